"""System checks: the console refuses to start without usable encryption keys."""

from django.conf import settings
from django.core import checks

from providers import crypto


@checks.register(checks.Tags.security)
def encryption_keys_configured(app_configs, **kwargs):
    try:
        crypto.parse_keys(settings.ENCRYPTION_KEYS)
    except crypto.KeyConfigError as exc:
        return [checks.Error(str(exc), id="providers.E001")]
    return []
