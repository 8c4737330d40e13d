"""The OpenAI-compatible API under /v1/: personal keys, the model catalog, limits, accounting and the views."""


def connect_signals():
    from django.db.models.signals import pre_save

    from providers.api import ids
    from providers.core import freshness
    from providers.models import APIKey, HFModel

    freshness.watch(APIKey)
    pre_save.connect(ids.assign_api_id, sender=HFModel, dispatch_uid="api-assign-api-id")
