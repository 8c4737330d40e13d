import os

from django.core.asgi import get_asgi_application

from config.startup import harden

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
harden()  # private files whichever server imports this module
application = get_asgi_application()

from providers.playground import lifecycle as run_lifecycle  # noqa: E402  (needs the apps loaded)

run_lifecycle.start_process()  # from the start, whichever server: its lease, and the sweep of abandoned runs
