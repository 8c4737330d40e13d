import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from providers.db import keep_sqlite_wal_open  # noqa: E402  (needs the apps loaded)

keep_sqlite_wal_open()
