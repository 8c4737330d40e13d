"""The router catalog's facts about a configured Inference Providers model (providers, prices, context, speed,
tools, vision, description), for the pages that show a model: its page, the model list and the playground; and
what the server said of an embedding or rerank model in its last good Test connection."""

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from providers.core.targets import bare_target, resolve_token
from providers.huggingface import catalog, transport
from providers.huggingface.adapters import adapter_for
from providers.huggingface.errors import HFError
from providers.models import EMBEDDING_TASKS, EndpointType


def facts_for(model, cached_only=False):
    """The facts, or None (not a providers model, or the router not read). `cached_only` never asks the router:
    list pages show what the last read left in the cache rather than wait for it."""
    if model.endpoint_type != EndpointType.INFERENCE_PROVIDERS:
        return None
    try:
        token = resolve_token(model) if not cached_only else None
    except HFError:
        token = None  # the catalog is public; the token only counts against the account's rate limit
    items = catalog.router_items(token, transport.Deadline(settings.HF_PICKER_TIMEOUT), cached_only=cached_only)
    return catalog.served_facts(model.repo_id, items.get(model.repo_id.partition(":")[0]))


def takes_images(target, repo_id, marked, router_items):
    """Whether image_url parts may go to a model: its upstream must carry them, and the router's catalog says so
    for Inference Providers (`router_items`: the catalog as read; None when it could not be read, so not known:
    the provider then answers for itself), an admin's mark (`marked`) for an endpoint; the hosted pipelines take
    none."""
    if target is None or not adapter_for(target).capabilities(target).image_input:
        return False
    if target.endpoint_type == EndpointType.INFERENCE_PROVIDERS:
        if not router_items:
            return None
        item = router_items.get(repo_id.partition(":")[0])
        return bool(item and item.get("vision"))
    return marked


def images_for(models):
    """{model pk: whether it takes images} from the router's catalog as cached (a page never waits for it)."""
    providers = any(m.endpoint_type == EndpointType.INFERENCE_PROVIDERS for m in models)
    items = catalog.router_items(None, None, cached_only=True) if providers else {}
    return {m.pk: bool(takes_images(bare_target(m), m.repo_id, m.accepts_images, items)) for m in models}


def summaries(models):
    """{model pk: one-line summary} for the providers models among `models`, from the cache only (one read of the
    catalog for them all: a list page must not wait for the router, nor read the catalog once per row)."""
    chosen = [m for m in models if m.endpoint_type == EndpointType.INFERENCE_PROVIDERS]
    items = catalog.router_items(None, None, cached_only=True) if chosen else {}
    return {m.pk: summary(catalog.served_facts(m.repo_id, items.get(m.repo_id.partition(":")[0]))) for m in chosen}


def _money(value):
    return f"${value:g}"


def summary(facts):
    """One line for a list cell or the playground: price range per million tokens and context range."""
    if not facts or not facts["providers"]:
        return ""
    parts = []
    prices_in = [p["price_in"] for p in facts["providers"] if p["price_in"] is not None]
    prices_out = [p["price_out"] for p in facts["providers"] if p["price_out"] is not None]
    if prices_in and prices_out:
        parts.append(
            _("%(low_in)s–%(high_in)s in, %(low_out)s–%(high_out)s out per million tokens")
            % {
                "low_in": _money(min(prices_in)),
                "high_in": _money(max(prices_in)),
                "low_out": _money(min(prices_out)),
                "high_out": _money(max(prices_out)),
            }
        )
    if facts["min_context"]:
        parts.append(
            _("context %(low)s–%(high)s tokens")
            % {"low": f"{facts['min_context']:,}", "high": f"{facts['max_context']:,}"}
        )
    parts.append(_("%(n)s live providers") % {"n": len(facts["providers"])})
    return " · ".join(parts)


POOLING = {
    "cls": gettext_lazy("the first (CLS) token's vector"),
    "mean": gettext_lazy("the mean of the tokens' vectors"),
    "last_token": gettext_lazy("the last token's vector"),
    "splade": gettext_lazy("sparse (SPLADE)"),
}


def vector_facts(model):
    """{dimensions, max_input_length, pooling, normalized} of an embedding or rerank model, each only when the
    server said it (TEI's /info, the vector of the last good Test connection); None when nothing is known."""
    if model.task not in EMBEDDING_TASKS:
        return None
    test = model.tests.filter(ok=True).only("server_info").first()
    info = test.server_info if test is not None and isinstance(test.server_info, dict) else {}
    facts = {
        "dimensions": info.get("dimensions"),
        "max_input_length": info.get("context_length"),
        "pooling": info.get("pooling") or "",
        "normalized": info.get("normalized"),
    }
    facts["pooling_words"] = str(POOLING.get(facts["pooling"], facts["pooling"]))
    return (
        facts
        if any(facts[k] not in (None, "") for k in ("dimensions", "max_input_length", "pooling", "normalized"))
        else None
    )
