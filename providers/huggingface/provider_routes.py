"""Which Inference Provider computes a model's embeddings, and where the router takes them (hf-protocol.md §16.4).

The router has no automatic `/v1/embeddings` of its own (its `/v1/` routes are chat): an embedding call goes to one
provider's route, with that provider's id of the model (`inferenceProviderMapping[provider].providerId`). Without a
`:provider` suffix the first live provider of the Hub's mapping that the console knows a route for is used, as
huggingface_hub's `provider="auto"` takes the first one of the mapping.
"""

import hashlib
import threading
import time
from dataclasses import replace

from django.conf import settings
from django.utils.translation import gettext as _

from providers.huggingface import hub
from providers.huggingface.errors import HFError

HF_INFERENCE = "hf-inference"  # the task pipeline (§11.2), spoken by the hf_inference adapter
# Providers whose embeddings route the router carries, each in OpenAI's shape (§16.4). Others get a refusal that
# names them rather than a guessed route.
OPENAI_ROUTES = {
    "together": "/together/v1/embeddings",
    "scaleway": "/scaleway/v1/embeddings",
    "deepinfra": "/deepinfra/v1/openai/embeddings",
}
KNOWN = (HF_INFERENCE, *OPENAI_ROUTES)
TASKS = ("feature-extraction", "sentence-similarity")
POLICIES = ("", "fastest", "cheapest", "preferred")

_chosen = {}  # (repo id with its suffix, the token's digest) -> ((provider, provider id), read at)
_lock = threading.Lock()


def mapping_entries(card):
    """[(provider, {"status", "providerId", "task"})] of a model card's mapping, in the Hub's order, either form."""
    mapping = card.get("inferenceProviderMapping") if isinstance(card, dict) else None
    if isinstance(mapping, dict):
        mapping = [{"provider": name, **entry} for name, entry in mapping.items() if isinstance(entry, dict)]
    if not isinstance(mapping, list):
        return []
    return [(m["provider"], m) for m in mapping if isinstance(m, dict) and isinstance(m.get("provider"), str)]


def serving(card):
    """The providers that serve the model's embeddings live, in the mapping's order (a missing task is taken on
    trust: the mapping of older answers has none)."""
    return [
        name
        for name, entry in mapping_entries(card)
        if entry.get("status") == "live" and entry.get("task", "feature-extraction") in TASKS
    ]


def choose(repo_id, card):
    """(provider, the provider's id of the model) for `repo_id` (with its `:provider` or policy suffix), or
    HFError saying which providers could serve it."""
    name, _sep, suffix = repo_id.partition(":")
    live = serving(card)
    reachable = [p for p in live if p in KNOWN]
    if suffix not in POLICIES:
        if suffix not in live:
            raise HFError(
                "model_not_served",
                _("The provider %(p)s does not compute this model's embeddings live; live: %(live)s")
                % {"p": suffix, "live": ", ".join(live) or "—"},
                variant="vectors" if reachable else "",
                context={"first": (reachable or [""])[0], "live": ", ".join(reachable)},
            )
        if suffix not in KNOWN:
            raise HFError(
                "model_not_served",
                _("The console does not know where the router takes %(p)s's embeddings; it knows %(known)s.")
                % {"p": suffix, "known": ", ".join(KNOWN)},
                variant="vectors" if reachable else "",
                context={"first": (reachable or [""])[0], "live": ", ".join(reachable)},
            )
        provider = suffix
    elif reachable:
        provider = reachable[0]
    else:
        message = (
            _("No Inference Provider computes the embeddings of %(repo)s live.") % {"repo": name}
            if not live
            else _("The providers computing the embeddings of %(repo)s (%(live)s) are not ones the console can reach.")
            % {"repo": name, "live": ", ".join(live)}
        )
        raise HFError("model_not_served", message, variant="no_vectors")
    entry = dict(mapping_entries(card)).get(provider, {})
    provider_id = entry.get("providerId") if isinstance(entry.get("providerId"), str) else ""
    return provider, provider_id or name


def resolve(target, deadline):
    """The target with its provider and the provider's model id, read from the Hub's mapping (remembered for
    HF_PICKER_CACHE_SECONDS, so a call rarely waits for the Hub). Raises HFError."""
    key = (target.repo_id, hashlib.sha256(target.token.encode()).hexdigest())
    now = time.monotonic()
    with _lock:
        known = _chosen.get(key)
    if known is None or now - known[1] > settings.HF_PICKER_CACHE_SECONDS:
        card = hub.model_info(
            target.repo_id.partition(":")[0], target.token, expand=("inferenceProviderMapping",), deadline=deadline
        )
        known = (choose(target.repo_id, card), now)
        with _lock:
            if len(_chosen) > 1000:
                _chosen.clear()
            _chosen[key] = known
    provider, provider_id = known[0]
    return replace(target, provider=provider, served_model=provider_id)


def forget():
    """Drop what was read (the tests' Hub changes between tests)."""
    with _lock:
        _chosen.clear()
