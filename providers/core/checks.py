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
