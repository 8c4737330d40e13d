"""System checks: the console refuses to start without usable encryption keys or with an unreadable CA bundle."""

import ssl

from django.conf import settings
from django.core import checks

from providers.core import crypto


@checks.register(checks.Tags.security)
def encryption_keys_configured(app_configs, **kwargs):
    try:
        crypto.parse_keys(settings.ENCRYPTION_KEYS)
    except crypto.KeyConfigError as exc:
        return [checks.Error(str(exc), id="providers.E001")]
    return []


@checks.register(checks.Tags.security)
def outbound_ca_bundle_readable(app_configs, **kwargs):
    """A CA bundle that cannot be loaded would fail every https request; say so at start-up instead."""
    if not settings.OUTBOUND_CA_BUNDLE:
        return []
    try:
        ssl.create_default_context().load_verify_locations(cafile=settings.OUTBOUND_CA_BUNDLE)
    except (OSError, ssl.SSLError) as exc:
        return [
            checks.Error(
                f"OUTBOUND_CA_BUNDLE {settings.OUTBOUND_CA_BUNDLE} cannot be loaded as PEM certificates: {exc}",
                id="providers.E002",
            )
        ]
    return []


@checks.register(checks.Tags.caches)
def shared_cache_with_shared_database(app_configs, **kwargs):
    """Sessions are kept in the cache in front of the database: with several instances on one PostgreSQL, a
    cache that each machine keeps for itself lets a session ended on one instance live on in another's."""
    backend = settings.CACHES["default"]["BACKEND"]
    local = backend.endswith(("FileBasedCache", "LocMemCache", "DummyCache"))
    if local and settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return [
            checks.Warning(
                "CACHE_URL is a cache of this machine's own while the database is PostgreSQL.",
                hint="With several instances, set CACHE_URL to one Redis for all (redis://host:6379/0); with one "
                "instance this warning can be ignored.",
                id="providers.W001",
            )
        ]
    return []


@checks.register(checks.Tags.database)
def stored_tokens_readable(app_configs, databases=None, **kwargs):
    """A machine set up without the shared .env generates keys of its own: say so before it serves, rather than
    fail every call that needs a stored token."""
    if not databases:
        return []
    from django.db import DatabaseError

    from providers.models import HFModel, ProviderSettings

    unreadable = set()
    try:
        for model in (ProviderSettings, HFModel):
            rows = model.objects.exclude(api_token_encrypted="").only("uid", "api_token_encrypted")
            seen = set()
            for row in rows.iterator():
                key_id = crypto.key_id_of(row.api_token_encrypted)
                if key_id in seen:
                    continue  # one row per key is enough to know whether this machine holds that key
                seen.add(key_id)
                try:
                    row.get_secret("api_token")
                except crypto.UndecryptableSecret:
                    unreadable.add(key_id or "?")
    except DatabaseError:
        return []  # not migrated yet, or unreachable: migrate and the health check say so
    if not unreadable:
        return []
    return [
        checks.Warning(
            f"Stored tokens were encrypted with key {', '.join(sorted(unreadable))}, which ENCRYPTION_KEYS on this "
            "machine does not hold (or holds with other bytes).",
            hint="Use the same .env (ENCRYPTION_KEYS and SECRET_KEY) on every instance: copy it from the machine "
            "that saved the tokens. Until then, calls that need those tokens fail.",
            id="providers.W002",
        )
    ]
