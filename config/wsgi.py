import os

from django.core.wsgi import get_wsgi_application

from config.startup import harden

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
harden()  # private files whichever server imports this module
application = get_wsgi_application()
