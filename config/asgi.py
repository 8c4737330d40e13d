import os

from django.core.asgi import get_asgi_application

from config.startup import harden

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
harden()  # private files whichever server imports this module
application = get_asgi_application()
