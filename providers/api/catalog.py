"""The models the API serves: every enabled model by its API id, with its target (token decrypted) ready.

Built once per process and configuration (freshness), so a call costs no model query and no decryption. The
list is built without a request to any upstream: a passing failure of one endpoint must neither slow GET
/v1/models nor be kept as the model's lasting problem. The engine behind an endpoint whose engine is not stored
yet (Test connection and the first run store it) is identified by the first call that needs it (`target()`).
"""

import dataclasses
import logging
import threading
from dataclasses import dataclass

from django.conf import settings

from providers.core import freshness
from providers.core.targets import target_for
from providers.huggingface import engines, transport
from providers.huggingface.errors import HFError
from providers.huggingface.generation import Target
from providers.models import EndpointType, HFModel

log = logging.getLogger(__name__)

_cache = freshness.LocalCache()
UNEXPECTED = "model_unavailable"  # an entry that failed for a reason nobody planned: the list is not cached
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
    target: Target | None
    problem: str  # an error category when no target can be built (no token, undecryptable token, a defect)

    @property
    def is_chat(self):
        return self.task == "chat"


def _entry(model):
    """No network here (detect=False). Only problems of the configuration itself, which stay until it changes,
    are kept; anything unexpected is a problem of this one model, never an error of the whole list."""
    try:
        target, problem = target_for(model, detect=False), ""
    except HFError as exc:
        target, problem = None, exc.category
    except Exception:
        log.exception("API catalog: model %s could not be prepared", model.pk)
        target, problem = None, UNEXPECTED
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


class _Uncached(Exception):
    def __init__(self, models):
        self.models = models


def _load():
    models = [_entry(model) for model in HFModel.objects.filter(enabled=True).order_by("api_id")]
    if any(entry.problem == UNEXPECTED for entry in models):
        raise _Uncached(models)  # LocalCache keeps nothing when the load raises: the next call builds again
    return models


def entries(generation):
    try:
        return _cache.get("models", _load, generation)
    except _Uncached as exc:
        return exc.models


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


# (model pk, endpoint URL) -> (engine, served model) learned by a call in this process; the database gets them too.
_learned = {}
_learned_lock = threading.Lock()
_LEARNED_MAX = 1000


def target(entry, deadline):
    """The entry's target, its engine identified first when it is an endpoint whose engine is not stored yet.

    Raises HFError (a passing one is not remembered: the next call asks again)."""
    base = entry.target
    if base.endpoint_type != EndpointType.INFERENCE_ENDPOINT or base.engine:
        return base
    key = (entry.pk, base.endpoint_url)
    with _learned_lock:
        known = _learned.get(key)
    if known is None:
        probe = transport.Deadline(min(settings.HF_TEST_TIMEOUT, max(deadline.left(), 0)))
        found = engines.identify_engine(base.endpoint_url, base.token, probe)
        known = (found.engine, found.served_model[:300])
        with _learned_lock:
            if len(_learned) >= _LEARNED_MAX:
                _learned.clear()
            _learned[key] = known
        # A queryset update (no freshness bump): the next catalog build reads it, nothing else need reload.
        HFModel.objects.filter(pk=entry.pk, endpoint_url=base.endpoint_url, engine="").update(
            engine=known[0], served_model=known[1]
        )
    return dataclasses.replace(base, engine=known[0], served_model=known[1])
