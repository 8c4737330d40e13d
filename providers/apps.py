from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ProvidersConfig(AppConfig):
    name = "providers"
    verbose_name = "Model providers"

    def ready(self):
        from providers import api
        from providers.core import checks, freshness, roles  # noqa: F401  (checks: registers the system checks)

        post_migrate.connect(roles.ensure_roles_after_migrate, sender=self)
        freshness.connect_signals()
        api.connect_signals()
