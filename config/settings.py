"""The one place that reads the environment. Every variable is documented in .env.example."""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env (written by `make run` on first start) is optional; the real environment wins.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data")))

SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Production HTTPS switches: all off by default so the embedded default works on plain http://127.0.0.1.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "csp",
    "axes",
    "providers",
]

MIDDLEWARE = [
    "providers.core.middleware.RequestIdMiddleware",
    "providers.core.middleware.RefuseNulMiddleware",  # every route, /v1/ and the playground's runs included
    "providers.api.middleware.ApiMiddleware",  # /v1/ ends here: a key needs none of what follows
    "providers.playground.middleware.LeanRoutesMiddleware",  # the playground's runs: a shorter chain (see there)
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "providers.core.cache_policy.NoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "providers.core.middleware.FirstRunSetupMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'console.sqlite3'}"),
}
# The web server `make run` starts (config/gunicorn.py reads these; the database settings below depend on them).
WEB_HOST = env.str("HOST", default="127.0.0.1")
WEB_PORT = env.int("PORT", default=8000)
WEB_WORKERS = env.int("WEB_WORKERS", default=2)
WEB_WORKER_CLASS = env.str("WEB_WORKER_CLASS", default="gevent")
if WEB_WORKER_CLASS not in ("gevent", "gthread"):
    raise ImproperlyConfigured("WEB_WORKER_CLASS must be gevent or gthread.")
WEB_WORKER_CONNECTIONS = env.int("WEB_WORKER_CONNECTIONS", default=1000)
WEB_THREADS = env.int("WEB_THREADS", default=48)
WEB_TIMEOUT = env.int("WEB_TIMEOUT", default=300)
# Seconds a stopping server waits for open requests; API streams still open near its end close with an error event.
WEB_GRACEFUL_TIMEOUT = env.int("WEB_GRACEFUL_TIMEOUT", default=30)
WEB_ACCESS_LOG = env.bool("WEB_ACCESS_LOG", default=False)

# Database connections. A playground stream gives its connection back before it waits on the upstream, so
# the connections in use follow the requests running queries, never the streams open.
# - gevent: each request runs in a greenlet of its own, so a connection cannot outlive its request
#   (CONN_MAX_AGE 0). PostgreSQL takes connections from a pool per process (DATABASE_POOL_SIZE at most, a
#   request waits up to DATABASE_POOL_TIMEOUT seconds for one); SQLite keeps up to DATABASE_POOL_SIZE idle ones.
# - gthread: each thread keeps one connection (SQLite: 600 s; PostgreSQL: 0 unless max_connections covers
#   WEB_WORKERS x WEB_THREADS).
_sqlite = DATABASES["default"]["ENGINE"].endswith("sqlite3")
_gevent = WEB_WORKER_CLASS == "gevent"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600 if _sqlite and not _gevent else 0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASE_POOL = env.bool("DATABASE_POOL", default=_gevent) and not _sqlite
if DATABASE_POOL:
    from psycopg_pool import ConnectionPool

    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections; Django refuses both at once
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("DATABASE_POOL_SIZE", default=10),
        # A request that cannot get a connection this soon answers 503 (the database is down, or every
        # connection is busy) instead of holding its caller; runs in flight retry their writes on their own.
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=1.5),
        # A connection broken by a restarted server is replaced when handed out, not used for a 500.
        "check": ConnectionPool.check_connection,
        # Background reconnection backs off exponentially (to minutes) while the database is down; giving it
        # up after a second lets the next request try again at once, so service resumes with the database.
        "reconnect_timeout": 1.0,
    }
if not _sqlite:
    # A database host that does not answer at all (not even a refusal) fails a connection within this bound.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=2)
    )
if _sqlite:
    # Django's backend with a per-process pool of idle connections (providers/sqlite3/base.py).
    DATABASES["default"]["ENGINE"] = "providers.sqlite3"
    DATABASES["default"]["POOL_SIZE"] = env.int("DATABASE_POOL_SIZE", default=10)
    # WAL lets the many requests of a playground read while one writes; NORMAL sync is safe under WAL.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;"
    )
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Sessions are read on every request: from the cache, falling back to the database (cached_db), so a
# signed-in request costs no session query. The cache must be shared by every worker process: the default
# is a folder under DATA_DIR (mode 700); a Redis URL works too (see .env.example).
CACHES = {"default": env.cache_url("CACHE_URL", default=f"filecache://{DATA_DIR / 'cache'}?max_entries=10000")}
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "providers.accounts.backends.RoleBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login throttling (django-axes): lock a username+address pair after repeated failures.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
# A timedelta: the lock-out page and the People page read the same duration as django-axes.
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Content-Security-Policy: only the console's own scripts, styles and fetches.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

# Secrets: `id:key` pairs (urlsafe base64 of 32 bytes). The first encrypts, every one decrypts.
ENCRYPTION_KEYS = env.list("ENCRYPTION_KEYS", default=[])

# Hugging Face services. Defaults are the real hosts; air-gapped installs and tests point them elsewhere.
HF_HUB_URL = env.str("HF_HUB_URL", default="https://huggingface.co").rstrip("/")
HF_ROUTER_URL = env.str("HF_ROUTER_URL", default="https://router.huggingface.co").rstrip("/")
HF_ENDPOINTS_API_URL = env.str("HF_ENDPOINTS_API_URL", default="https://api.endpoints.huggingface.cloud/v2").rstrip("/")
HF_PICKER_TIMEOUT = env.float("HF_PICKER_TIMEOUT", default=4.0)
HF_PICKER_CACHE_SECONDS = env.int("HF_PICKER_CACHE_SECONDS", default=300)
HF_ENDPOINT_WATCH_SECONDS = env.int("HF_ENDPOINT_WATCH_SECONDS", default=600)
HF_CONNECT_TIMEOUT = env.float("HF_CONNECT_TIMEOUT", default=5.0)
HF_READ_TIMEOUT = env.float("HF_READ_TIMEOUT", default=60.0)
HF_TEST_TIMEOUT = env.float("HF_TEST_TIMEOUT", default=30.0)
HF_GENERATION_TIMEOUT = env.float("HF_GENERATION_TIMEOUT", default=600.0)
HF_LOADING_WAIT_MAX = env.float("HF_LOADING_WAIT_MAX", default=20.0)
HF_RETRY_AFTER_MAX = env.float("HF_RETRY_AFTER_MAX", default=10.0)
HF_SCALE_UP_TIMEOUT = env.int("HF_SCALE_UP_TIMEOUT", default=120)
HF_CHECK_CONCURRENCY = env.int("HF_CHECK_CONCURRENCY", default=4)
HF_MAX_ANSWER_BYTES = env.int("HF_MAX_ANSWER_BYTES", default=1048576)

# Outbound URL safety for admin-entered endpoint URLs.
OUTBOUND_ALLOW_HTTP = env.bool("OUTBOUND_ALLOW_HTTP", default=False)
OUTBOUND_ALLOWED_HOSTS = env.list("OUTBOUND_ALLOWED_HOSTS", default=[])
OUTBOUND_ALLOWED_NETWORKS = env.list("OUTBOUND_ALLOWED_NETWORKS", default=[])
# Hosts (and their subdomains) that get the provider token besides Hugging Face's own (the Hub, router and
# Endpoints API URLs, *.endpoints.huggingface.cloud): a proxy in front of Hugging Face, for instance.
PROVIDER_TOKEN_HOSTS = env.list("PROVIDER_TOKEN_HOSTS", default=[])
# A PEM file of extra certificate authorities to trust (endpoints behind a private CA), added to the defaults.
OUTBOUND_CA_BUNDLE = env.str("OUTBOUND_CA_BUNDLE", default="")

PLAYGROUND_RUNS_PER_MINUTE = env.int("PLAYGROUND_RUNS_PER_MINUTE", default=20)
# Runs in flight: how often each process saves their output so far, and within how long the runs of a dead process
# (its lease no longer renewed) are marked interrupted by another.
RUN_CHECKPOINT_SECONDS = env.float("RUN_CHECKPOINT_SECONDS", default=2.0)
RUN_STALE_SECONDS = env.float("RUN_STALE_SECONDS", default=120.0)
# Seconds /healthz waits for the database and the shared cache before it answers 503.
HEALTHZ_TIMEOUT = env.float("HEALTHZ_TIMEOUT", default=0.8)

# Model import: a file larger, or with more models, is refused before anything is validated or written.
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=1_000_000)
IMPORT_MAX_MODELS = env.int("IMPORT_MAX_MODELS", default=500)
# The largest request body any page or API route reads (Django refuses a larger one before a view runs, with a
# 413 in the console's or the API's error shape). One number for both, so the API never promises more.
REQUEST_MAX_BYTES = env.int("REQUEST_MAX_BYTES", default=2_621_440)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BYTES
# The OpenAI-compatible API (/v1/): limits per key, unless an admin set the key's own. 0 means no limit.
API_REQUESTS_PER_MINUTE = env.int("API_REQUESTS_PER_MINUTE", default=60)
API_MAX_STREAMS = env.int("API_MAX_STREAMS", default=8)
# Days the record of each API call is kept; `manage.py prune_api_calls` (run daily) deletes older ones. 0 keeps all.
API_CALL_RETENTION_DAYS = env.int("API_CALL_RETENTION_DAYS", default=90)
# Usable (not revoked, not expired) API keys one person may hold; 0 means no cap.
API_MAX_KEYS_PER_USER = env.int("API_MAX_KEYS_PER_USER", default=10)
# Bounds of one /v1/embeddings or /v1/rerank call: inputs (documents) per call, characters (or tokens) per input.
API_EMBED_MAX_INPUTS = env.int("API_EMBED_MAX_INPUTS", default=512)
API_EMBED_MAX_INPUT_CHARS = env.int("API_EMBED_MAX_INPUT_CHARS", default=32768)
# ...and bytes of text in one call, all inputs (or the query and documents) together, as UTF-8; token ids count
# 4 bytes each. The default is TEI's own payload limit, so a call the console passes is not refused upstream.
API_EMBED_MAX_TOTAL_BYTES = env.int("API_EMBED_MAX_TOTAL_BYTES", default=2_000_000)
# Browser origins allowed to call /v1/ (CORS), e.g. https://app.example.com; "*" allows any. Empty: none (no CORS).
API_CORS_ORIGINS = [o.rstrip("/") for o in env.list("API_CORS_ORIGINS", default=[]) if o.strip()]
# The largest image (decoded bytes) one image_url content part may carry as a data: URL; the request body limit
# (REQUEST_MAX_BYTES) bounds them all together.
API_MAX_IMAGE_BYTES = env.int("API_MAX_IMAGE_BYTES", default=2_000_000)
# Token counts the console makes itself where an upstream reports none: the model's tokenizer.json from the Hub,
# at most this large, fetched within this many seconds, kept this long (a failure: TOKENIZER_RETRY_SECONDS).
TOKENIZER_MAX_BYTES = env.int("TOKENIZER_MAX_BYTES", default=50_000_000)
TOKENIZER_TIMEOUT = env.float("TOKENIZER_TIMEOUT", default=10.0)
TOKENIZER_CACHE_SECONDS = env.int("TOKENIZER_CACHE_SECONDS", default=7 * 24 * 3600)
TOKENIZER_RETRY_SECONDS = env.int("TOKENIZER_RETRY_SECONDS", default=300)
# Where the limit counters live without Redis or PostgreSQL: a local folder this machine's processes share.
API_LIMITS_DIR = Path(env.str("API_LIMITS_DIR", default=str(DATA_DIR / "limits")))
# A stream's slot in Redis or PostgreSQL is a lease of this many seconds, renewed every third of it while the
# stream lives: a dead process's slots are free again within it, and a live stream survives two missed renewals.
STREAM_SLOT_LEASE_SECONDS = env.float("STREAM_SLOT_LEASE_SECONDS", default=30.0)
if STREAM_SLOT_LEASE_SECONDS <= 0:
    raise ImproperlyConfigured("STREAM_SLOT_LEASE_SECONDS must be above 0.")

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "providers.core.middleware.RequestIdLogFilter"},
        "forbidden_one_line": {"()": "providers.core.logging_filters.ForbiddenOneLine"},
        "unreachable_database_one_line": {"()": "providers.core.logging_filters.UnreachableDatabaseOneLine"},
    },
    "formatters": {
        "readable": {
            "format": "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s",
        }
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "readable",
            "filters": ["request_id", "forbidden_one_line", "unreachable_database_one_line"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        "axes": {"level": "WARNING"},  # one INFO line per log-in attempt is noise; lock-outs are warnings
    },
}
