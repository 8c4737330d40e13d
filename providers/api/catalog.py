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

from providers.core import freshness, served_facts
from providers.core.targets import target_for
from providers.huggingface import adapters, engines, transport
from providers.huggingface import catalog as hf_catalog
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
    repo_id: str = ""  # the Hub repo id (with its :provider or policy suffix on Inference Providers), "" for none
    accepts_images: bool = False  # an endpoint marked by an admin as taking images
    drop_unsupported: bool = False  # fields the upstream cannot carry are left out (and named), not refused

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
        repo_id=model.repo_id,
        accepts_images=model.accepts_images,
        drop_unsupported=model.drop_unsupported,
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


class Ambiguous(Exception):
    """A repo id that more than one enabled model is configured with: the caller must send one of their ids."""

    def __init__(self, ids):
        self.ids = ids
        super().__init__(", ".join(ids))


def find(name, generation):
    """The entry a request names: its API id, its display name, its repo id (with the `:provider` suffix it is
    configured with, or without one when only one model has that repo), or a placeholder when only one model
    exists. Raises Ambiguous when a repo id names several models."""
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
    return _by_repo(name, models) if "/" in name else None


def _by_repo(name, models):
    exact = [e for e in models if e.repo_id == name]
    if not exact and ":" not in name:  # "org/model" for a model configured as "org/model:provider"
        exact = [e for e in models if e.repo_id.partition(":")[0] == name]
    if len(exact) > 1:
        raise Ambiguous(sorted(e.api_id for e in exact))
    return exact[0] if exact else None


def features(entry, router_items=None):
    """What the model can be asked through /v1/ (the extra fields of its /v1/models object): tools, structured
    output, images, streaming, and the context length where the router's catalog says it. `router_items`: the
    router catalog as cached (None: not read)."""
    target = entry.target
    if target is None:
        return {}
    capabilities = adapters.adapter_for(target).capabilities(target)
    facts = None
    if target.endpoint_type == EndpointType.INFERENCE_PROVIDERS and router_items is not None:
        facts = hf_catalog.served_facts(entry.repo_id, router_items.get(entry.repo_id.partition(":")[0]))
    said = [p["tools"] for p in facts["providers"] if p["tools"] is not None] if facts else []
    found = {
        "streaming": capabilities.streaming,
        "tools": capabilities.tools and (any(said) if said else True),  # what the live providers say, if any
        "structured_output": capabilities.structured_output,
        "images": bool(accepts_images(entry, router_items)),
    }
    if facts and facts["min_context"]:
        found["context_length"] = facts["min_context"]  # the least a call may land on, whichever provider serves it
    return found


def accepts_images(entry, router_items):
    """Whether image_url parts may go to this model (served_facts.takes_images: None when not known)."""
    return served_facts.takes_images(entry.target, entry.repo_id, entry.accepts_images, router_items)


def router_items(entry_list, cached_only=True):
    """The router's catalog when any of `entry_list` is an Inference Providers model (with a short deadline when
    it must be read), else None."""
    chosen = [e for e in entry_list if e.target is not None and e.target.endpoint_type == "inference_providers"]
    if not chosen:
        return None
    deadline = transport.Deadline(settings.HF_PICKER_TIMEOUT)
    return hf_catalog.router_items(chosen[0].target.token or None, deadline, cached_only=cached_only)


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
        found = engines.identify_engine(base.endpoint_url, base.token, probe, base.headers())
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
