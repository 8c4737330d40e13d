"""Test settings: the real settings plus a fixed test encryption key and fast password hashing.

The database still comes from DATABASE_URL (SQLite by default, PostgreSQL in CI's second run).
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789abcdef")
# Playwright's sync API runs an event loop in the test thread; the ORM calls made there are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from config.settings import *  # noqa: E402,F403
from config.settings import CACHES, DATABASES  # noqa: E402

ENCRYPTION_KEYS = ["test1:dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY="]  # a fixed, public test key
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_ROOT = os.path.join(tempfile.gettempdir(), "hfconsole-test-static")  # WhiteNoise wants it to exist
os.makedirs(STATIC_ROOT, exist_ok=True)
ALLOWED_HOSTS = ["*"]
# The production cache kind (a shared folder), in a folder of this test process; conftest clears it per test.
if CACHES["default"]["BACKEND"].endswith("FileBasedCache"):  # a served test may name a Redis of its own
    CACHES["default"]["LOCATION"] = os.path.join(tempfile.gettempdir(), f"hfconsole-test-cache-{os.getpid()}")
PLAYGROUND_RUNS_PER_MINUTE = int(os.environ.get("PLAYGROUND_RUNS_PER_MINUTE", "1000"))  # a served test may set its own
# Limit counters of this test process (a served console under test gets its own through the environment).
API_LIMITS_DIR = Path(
    os.environ.get("API_LIMITS_DIR") or Path(tempfile.gettempdir()) / f"hfconsole-limits-{os.getpid()}"
)
# The emulator on 127.0.0.1 stands for Hugging Face's own hosts: its endpoints get the provider token.
PROVIDER_TOKEN_HOSTS = ["127.0.0.1"]
HF_TEST_TIMEOUT = 10.0
HF_READ_TIMEOUT = 10.0
HF_CONNECT_TIMEOUT = 2.0
HF_LOADING_WAIT_MAX = 2.0
HF_RETRY_AFTER_MAX = 2.0
HF_SCALE_UP_TIMEOUT = 8  # an endpoint that never wakes fails a test within seconds
# Tests open connections from many short-lived threads (live server, command pools): close them per request.
DATABASES["default"]["CONN_MAX_AGE"] = 0
# Test databases are created and flushed by one connection at a time; the served tests start their own pools.
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)
# An on-disk SQLite test database, so that the leak test can search the file itself.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"hfconsole-test-{os.getpid()}.sqlite3")
    }
# A test that forgets the emulator must not reach the real Hugging Face: nothing listens on port 9. Servers that
# tests start as subprocesses name the emulator in their environment.
HF_HUB_URL = os.environ.get("HF_HUB_URL", "http://127.0.0.1:9")
HF_ROUTER_URL = os.environ.get("HF_ROUTER_URL", "http://127.0.0.1:9")
HF_ENDPOINTS_API_URL = os.environ.get("HF_ENDPOINTS_API_URL", "http://127.0.0.1:9")
# The per-process checkpoint loop stays asleep in-process (tests call it); served tests set it through the env.
RUN_CHECKPOINT_SECONDS = float(os.environ.get("RUN_CHECKPOINT_SECONDS", "3600"))
