"""The model picker's answers: Hub search (§8) joined with the router's catalog (§7), cached briefly.

Every Hub call shares one short deadline (HF_PICKER_TIMEOUT), so a slow or absent Hub costs the admin a few
seconds at most; the typed repo id is always accepted without the picker.
"""

import hashlib
import json
import re

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy

from providers.huggingface import hub, provider_routes, transport
from providers.huggingface.errors import PROVIDERS, SWITCHABLE, HFError

PAGE_SIZE = 20
MAX_ACCESS_CHECKS = 5  # gated models per page whose access is asked for (each one is a Hub request)
SEARCH_FIELDS = ("pipeline_tag", "gated", "inference", "inferenceProviderMapping", "downloads", "likes", "tags")
TASK_FILTERS = {
    "chat": {"filter": "conversational"},
    "text-generation": {"pipeline_tag": "text-generation"},
    "text2text-generation": {"pipeline_tag": "text2text-generation"},
    "text-ranking": {"pipeline_tag": "text-ranking"},
}
# Embedding models are listed under either tag (sentence-transformers repos under sentence-similarity, §11.1): one
# search per tag, joined by downloads; the cursor of the next page holds one cursor per tag.
VECTOR_TAGS = ("feature-extraction", "sentence-similarity")
VECTOR_TASKS = ("feature-extraction", "text-ranking")
POLICIES = ("fastest", "cheapest", "preferred")


def _key(*parts):
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]
    return f"hf-picker:{digest}"


def _catalog_key():
    return _key("catalog-items", settings.HF_ROUTER_URL)


def router_items(token, deadline, cached_only=False):
    """{repo id: {"providers": [entries], "description", "vision"}} from the router, cached; {} when the router
    cannot be read (or, with `cached_only`, when it has not been read lately: a page then shows no facts rather
    than wait for the router)."""
    catalog = cache.get(_catalog_key())
    if catalog is None and not cached_only:
        try:
            items = hub.router_models(token, deadline)
        except HFError:
            return {}  # the Hub's own mapping still says who serves what; prices are then unknown
        catalog = {item["id"]: _item(item) for item in items}
        cache.set(_catalog_key(), catalog, settings.HF_PICKER_CACHE_SECONDS)
    return catalog or {}


def _item(item):
    modalities = (item.get("architecture") or {}).get("input_modalities") if isinstance(item, dict) else None
    return {
        "providers": [p for p in item.get("providers") or [] if isinstance(p, dict)],
        "description": item.get("description") if isinstance(item.get("description"), str) else "",
        "vision": isinstance(modalities, list) and any(m in ("image", "vision") for m in modalities),
    }


# The router's routing policies (hf-protocol.md §2): a model id without a suffix is routed as :fastest.
POLICY_WORDS = {
    "fastest": gettext_lazy("the live provider with the highest throughput"),
    "cheapest": gettext_lazy("the live provider with the lowest price"),
    "preferred": gettext_lazy("the first live provider in the account's order at hf.co/settings/inference-providers"),
}


def _priced(p):
    return p["price_in"] is not None and p["price_out"] is not None


def policy_pick(policy, live):
    """The provider a routing policy takes among `live` (provider entries), when the console can tell: "" for
    :preferred (the account's order is not visible), or when no provider reports the figure the policy uses."""
    if policy == "fastest":
        pick = max((p for p in live if p["throughput"] is not None), key=lambda p: p["throughput"], default=None)
    elif policy == "cheapest":
        pick = min(filter(_priced, live), key=lambda p: p["price_in"] + p["price_out"], default=None)
    else:
        pick = None
    return pick["provider"] if pick else ""


def served_facts(repo_id, item):
    """What the router says of a model configured as `repo_id` (with its `:provider` or policy suffix): its live
    providers (cheapest first), the one the suffix picks when the console can tell, the context range it may land
    on, tools, vision and description. None when the router's catalog has no such model."""
    if not item:
        return None
    name, _sep, suffix = repo_id.partition(":")
    live = [_provider_entry(p.get("provider"), p) for p in item["providers"] if p.get("status") == "live"]
    live = [p for p in live if p["provider"]]
    live.sort(key=lambda p: (p["price_in"] is None, (p["price_in"] or 0) + (p["price_out"] or 0), p["provider"]))
    policy = suffix if suffix in POLICY_WORDS else ("" if suffix else "fastest")
    pick = policy_pick(policy, live) if policy else suffix
    contexts = [p["context_length"] for p in live if p["context_length"]]
    return {
        "providers": live,
        "policy": policy,
        "policy_words": str(POLICY_WORDS[policy]) if policy else "",
        "pick": pick or "",
        "min_context": min(contexts) if contexts else None,
        "max_context": max(contexts) if contexts else None,
        "tools": any(p["tools"] for p in live),
        "vision": item["vision"],
        "description": item["description"],
        "priced": any(p["price_in"] is not None for p in live),
        # which provider each policy takes now, for the other routings the model could use
        "picks": {p: policy_pick(p, live) for p in POLICIES if p != "preferred"} if len(live) > 1 else {},
    }


SWITCH_WAIT_SECONDS = 2.0  # a failed run waits at most this long more for the catalog, when it is not cached


def switch_words(category, endpoint_type, repo_id, cached_only=False):
    """(variant, context) for a provider's failure (a hang, an error, an odd answer) whose advice may name the live
    providers the router's catalog lists for the model, but the one the repo id forces; ("", {}) otherwise.
    `cached_only` never asks the router (a reopened run shows what the last read of the catalog said)."""
    if endpoint_type != PROVIDERS or category not in SWITCHABLE:
        return "", {}
    name, _sep, suffix = repo_id.partition(":")
    deadline = None if cached_only else transport.Deadline(min(settings.HF_PICKER_TIMEOUT, SWITCH_WAIT_SECONDS))
    item = router_items(None, deadline, cached_only=cached_only).get(name) or {}
    live = sorted(
        p["provider"]
        for p in item.get("providers", [])
        if p.get("status") == "live" and isinstance(p.get("provider"), str) and p["provider"] != suffix
    )
    return ("switch", {"live": ", ".join(live), "first": live[0]}) if live else ("", {})


def suggest_switch(error, endpoint_type, repo_id):
    """`error` with advice naming the live alternatives when it is a provider's failure (see switch_words)."""
    if not error.variant:
        variant, context = switch_words(error.category, endpoint_type, repo_id)
        if variant:
            error.variant, error.context = variant, {**error.context, **context}
    return error


def search(query, task, token="", cursor=""):
    """{"results": [...], "next": cursor}; raises HFError when the Hub cannot be asked in time."""
    token_key = hashlib.sha256(token.encode()).hexdigest()[:16] if token else ""
    key = _key("search", settings.HF_HUB_URL, query.lower(), task, cursor, token_key)
    cached = cache.get(key)
    if cached is not None:
        return cached
    deadline = transport.Deadline(settings.HF_PICKER_TIMEOUT)
    params = {"search": query, "limit": PAGE_SIZE, "sort": "downloads", "expand[]": list(SEARCH_FIELDS)}
    if task == "feature-extraction":
        items, following, token = _search_tags(params, cursor, token, deadline)
    else:
        params.update(TASK_FILTERS.get(task, {}))
        if cursor:
            params["cursor"] = cursor
        items, following, token = _search_page(params, token, deadline)
    # The router's catalog lists chat models only (§7.1): not read for embeddings or rerank.
    catalog = router_items(token or None, deadline) if task not in VECTOR_TASKS else {}
    results = []
    for item in items:
        known = catalog.get(item.get("id"), {})
        result = describe(item, known.get("providers", []), task)
        # The router's catalog says which models read images; the Hub's task says so for the rest.
        result["vision"] = bool(known.get("vision")) or item.get("pipeline_tag") == "image-text-to-text"
        results.append(result)
    checks = 0
    for result in results:
        # Access is a detail: asked only while half the time budget is left, so a slow Hub costs one wait less.
        if result["gated"] and token and checks < MAX_ACCESS_CHECKS and deadline.left() > deadline.seconds / 2:
            checks += 1
            try:
                result["access"] = hub.has_access(result["id"], token, transport.Deadline(deadline.left() / 2))
            except HFError:
                result["access"] = None
    answer = {"results": results, "next": following}
    cache.set(key, answer, settings.HF_PICKER_CACHE_SECONDS)
    return answer


def _search_page(params, token, deadline):
    """(items, next cursor, the token still usable): a refused token searches again without it."""
    try:
        items, following = hub.search_models(params, token or None, deadline)
    except HFError as exc:
        if exc.category != "invalid_token" or not token:
            raise
        token = ""  # the search is public: a refused token only loses the access checks
        items, following = hub.search_models(params, None, deadline)
    return items, following, token


def _search_tags(params, cursor, token, deadline):
    """One page per embedding tag, joined by downloads (each model once); the next cursor is one per tag, null
    for a tag whose pages are done."""
    try:
        cursors = json.loads(cursor) if cursor else [""] * len(VECTOR_TAGS)
    except ValueError:
        cursors = None
    if not isinstance(cursors, list) or len(cursors) != len(VECTOR_TAGS):
        cursors = [""] * len(VECTOR_TAGS)  # not a cursor this search gave: start again
    found, following = {}, []
    for tag, tag_cursor in zip(VECTOR_TAGS, cursors, strict=True):
        if tag_cursor is None or not isinstance(tag_cursor, str):
            following.append(None)
            continue
        page = {**params, "pipeline_tag": tag, **({"cursor": tag_cursor} if tag_cursor else {})}
        items, next_cursor, token = _search_page(page, token, deadline)
        for item in items:
            found.setdefault(item["id"], item)
        following.append(next_cursor or None)
    items = sorted(found.values(), key=lambda item: -(_number(item.get("downloads")) or 0))
    return items, json.dumps(following) if any(following) else "", token


def _mapping(item):
    mapping = item.get("inferenceProviderMapping") or []
    if isinstance(mapping, dict):
        mapping = [{"provider": k, **(v or {})} for k, v in mapping.items() if isinstance(v, dict)]
    return [m for m in mapping if isinstance(m, dict) and m.get("provider")]


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _provider_entry(name, extra):
    pricing = extra.get("pricing") if isinstance(extra.get("pricing"), dict) else {}
    return {
        "provider": name,
        "context_length": _number(extra.get("context_length")),
        "price_in": _number(pricing.get("input")),
        "price_out": _number(pricing.get("output")),
        "tools": extra.get("supports_tools") if isinstance(extra.get("supports_tools"), bool) else None,
        "latency_ms": _number(extra.get("first_token_latency_ms")),
        "throughput": _number(extra.get("throughput")),
        "free": extra.get("is_free") is True,
    }


def describe(item, catalog_providers, task):
    """What the picker shows for one Hub model and what choosing it fills in."""
    by_provider = {p.get("provider"): p for p in catalog_providers}
    live = {}
    for entry in _mapping(item):
        name = entry["provider"]
        if (
            name != "hf-inference"
            and entry.get("status") == "live"
            and by_provider.get(name, {}).get("status") != "error"
        ):
            live[name] = _provider_entry(name, by_provider.get(name, {}))
    for name, extra in by_provider.items():  # the catalog may know a provider the search's mapping left out
        if name and name != "hf-inference" and extra.get("status") == "live" and name not in live:
            live[name] = _provider_entry(name, extra)
    live = sorted(live.values(), key=lambda p: p["provider"])
    mapping = {m["provider"]: m.get("status") for m in _mapping(item)}
    warm = item.get("inference") == "warm" or mapping.get("hf-inference") == "live"
    tag = item.get("pipeline_tag") or ""
    if task in VECTOR_TASKS:
        return _describe_vectors(item, task, warm, tag)
    chat_capable = "conversational" in (item.get("tags") or []) or bool(live)
    if live and (task == "chat" or chat_capable):
        endpoint_type, served, fill_task = "inference_providers", "providers", "chat"
    elif warm and tag in ("text-generation", "text2text-generation"):
        endpoint_type, served, fill_task = "hosted_api", "hosted", tag
    else:
        endpoint_type, served = "inference_endpoint", "none"
        fill_task = "chat" if task == "chat" else (tag if tag in ("text-generation", "text2text-generation") else task)
    return {
        "id": item.get("id", ""),
        "pipeline_tag": tag,
        "downloads": _number(item.get("downloads")),
        "likes": _number(item.get("likes")),
        "gated": bool(item.get("gated")),
        "access": None,
        "warm": warm,
        "providers": live,
        "served": served,
        "fill": {"endpoint_type": endpoint_type, "task": fill_task, "repo_id": item.get("id", "")},
        # "cheapest" only where a price tells the providers apart; the picks are what the console can tell now
        "policies": [p for p in POLICIES if p != "cheapest" or any(map(_priced, live))] if len(live) > 1 else [],
        "picks": {policy: policy_pick(policy, live) for policy in POLICIES} if len(live) > 1 else {},
    }


def _describe_vectors(item, task, warm, tag):
    """describe() for an embedding or rerank model: the Hosted Inference API's pipeline when hf-inference serves
    it, else the providers that compute its embeddings through the router (§16.4), else an Inference Endpoint
    (TEI); rerankers always an endpoint (the hosted rerank route is unconfirmed, §16.3)."""
    providers = [
        _provider_entry(name, {})
        for name in provider_routes.serving({"inferenceProviderMapping": _mapping(item)})
        if name != provider_routes.HF_INFERENCE and name in provider_routes.KNOWN
    ]
    if task == "feature-extraction" and warm and tag in VECTOR_TAGS:
        endpoint_type, served = "hosted_api", "hosted"
    elif task == "feature-extraction" and providers:
        endpoint_type, served = "inference_providers", "providers"
    else:
        endpoint_type, served = "inference_endpoint", "none"
    return {
        "id": item.get("id", ""),
        "pipeline_tag": tag,
        "downloads": _number(item.get("downloads")),
        "likes": _number(item.get("likes")),
        "gated": bool(item.get("gated")),
        "access": None,
        "warm": warm,
        "providers": providers if served == "providers" else [],
        "served": served,
        "fill": {"endpoint_type": endpoint_type, "task": task, "repo_id": item.get("id", "")},
        "policies": [],  # the router's policies choose among chat providers only
    }


LEGACY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")  # ids from before namespaces: gpt2, t5-small, …


def canonical_legacy_id(repo_id, token=""):
    """The namespaced id the Hub redirects an old un-namespaced id to, or None when it has none.

    Raises HFError when the Hub cannot be asked in time.
    """
    name, sep, suffix = repo_id.partition(":")
    if not LEGACY_RE.match(name):
        return None
    try:
        canonical, _info = hub.canonical_repo_id(name, token or None, transport.Deadline(settings.HF_PICKER_TIMEOUT))
    except HFError as exc:
        if exc.category == "model_not_found":
            return None
        raise
    if "/" not in canonical:
        return None
    return canonical + sep + suffix
