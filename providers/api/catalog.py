"""The models the API serves: every enabled model by its API id, with its target (token decrypted) ready.

Built once per process and configuration (freshness), so a call costs no model query and no decryption.
"""

from dataclasses import dataclass

from providers import freshness
from providers.connection_test import target_for
from providers.huggingface import client
from providers.huggingface.errors import HFError
from providers.models import HFModel

_cache = freshness.LocalCache()
# Names clients send when they have no model to name: huggingface_hub sends "dummy" for a URL, TGI clients "tgi".
PLACEHOLDER_NAMES = ("", "dummy", "tgi")


@dataclass(frozen=True)
class Entry:
    pk: int
    api_id: str
    display_name: str
    task: str
    created: int
    defaults: dict
    target: client.Target | None
    problem: str  # an error category when no target can be built (no token, undecryptable token)

    @property
    def is_chat(self):
        return self.task == "chat"


def _entry(model):
    try:
        target, problem = target_for(model), ""
    except HFError as exc:
        target, problem = None, exc.category
    return Entry(
        pk=model.pk,
        api_id=model.api_id or str(model.pk),
        display_name=model.display_name,
        task=model.task,
        created=int(model.created_at.timestamp()),
        defaults=model.default_parameters(),
        target=target,
        problem=problem,
    )


def _load():
    return [_entry(model) for model in HFModel.objects.filter(enabled=True).order_by("api_id")]


def entries(generation):
    return _cache.get("models", _load, generation)


def find(name, generation):
    """The entry a request names: its API id, its display name, or a placeholder when only one model exists."""
    if name is not None and not isinstance(name, str):
        return None
    models = entries(generation)
    name = (name or "").strip()
    for field in ("api_id", "display_name"):  # an id wins over another model's display name
        for entry in models:
            if getattr(entry, field) == name:
                return entry
    if name in PLACEHOLDER_NAMES and len(models) == 1:
        return models[0]
    return None
