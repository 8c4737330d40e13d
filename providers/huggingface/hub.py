"""The Hub and its catalogs: who a token belongs to and what it may call, a model's card, the model search, the
router's list of served models, and whether a gated model may be used."""

from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from providers.huggingface import transport, urls
from providers.huggingface.errors import HFError


@dataclass
class TokenInfo:
    name: str
    role: str
    can_call_providers: bool
    can_call_endpoints: bool
    namespaces: tuple = ()  # the user's own name (for a user token), then its organisations
    orgs: tuple = ()
    can_read_gated: bool = True  # the gated repos whose terms the account accepted
    can_manage_endpoints: bool = False  # list, resume and wake Inference Endpoints (the control plane)


def whoami(token, deadline=None):
    response = transport.call(
        "GET", urls.join(settings.HF_HUB_URL, "/api/whoami-v2"), "whoami", token, deadline=deadline
    )
    body = transport.json_of(response)
    if not isinstance(body, dict):
        raise HFError("bad_response", _("whoami did not return an object."))
    auth = body.get("auth") or {}
    access = auth.get("accessToken") or {}
    role = access.get("role") or ""
    if role == "fineGrained":
        fine = access.get("fineGrained") or {}
        global_perms = set(fine.get("global") or [])
        scoped = set()
        for entry in fine.get("scoped") or []:
            scoped.update(entry.get("permissions") or [])
        providers = "inference.serverless.write" in global_perms
        endpoints = "inference.endpoints.infer.write" in (global_perms | scoped)
        gated = fine.get("canReadGatedRepos") is True
        manage = "inference.endpoints.write" in (global_perms | scoped)
    else:
        # read/write (and the old admin/contributor) tokens, and OAuth/app tokens, may call inference; managing
        # endpoints (resume, wake) needs a token that may write.
        providers = endpoints = gated = True
        manage = role in ("write", "admin", "contributor")
        role = role or auth.get("type") or "unknown"
    orgs = tuple(o.get("name") for o in body.get("orgs") or [] if isinstance(o, dict) and o.get("name"))
    namespaces = ([body.get("name")] if body.get("type", "user") == "user" and body.get("name") else []) + list(orgs)
    return TokenInfo(body.get("name") or "", role, providers, endpoints, tuple(namespaces), orgs, gated, manage)


def model_info(repo_id, token=None, expand=(), deadline=None):
    url = urls.join(settings.HF_HUB_URL, f"/api/models/{quote(repo_id, safe='/')}")
    if expand:
        url += "?" + "&".join(f"expand[]={quote(e)}" for e in expand)
    return transport.json_of(transport.call("GET", url, "model_info", token, deadline=deadline))


def search_models(params, token=None, deadline=None):
    """One page of the Hub's model search (§8): (items, cursor of the next page or "")."""
    url = urls.join(settings.HF_HUB_URL, "/api/models") + "?" + urlencode(params, doseq=True)
    response = transport.call("GET", url, "model_info", token, deadline=deadline)
    body = transport.json_of(response)
    if not isinstance(body, list):
        raise HFError("bad_response", _("The model search did not return a list."))
    following = response.links.get("next", {}).get("url", "")
    cursor = parse_qs(urlsplit(following).query).get("cursor", [""])[0] if following else ""
    return [item for item in body if isinstance(item, dict) and item.get("id")], cursor


def router_models(token=None, deadline=None):
    """The router's catalog of chat models served by Inference Providers (§7), as a list of items."""
    body = transport.json_of(
        transport.call("GET", urls.join(settings.HF_ROUTER_URL, "/v1/models"), "router", token, deadline=deadline)
    )
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise HFError("bad_response", _("The router's model list has no data."))
    return [item for item in data if isinstance(item, dict) and item.get("id")]


def has_access(repo_id, token, deadline=None):
    """Whether this token may use a gated model: True, False, or None when the Hub does not say."""
    url = urls.join(settings.HF_HUB_URL, f"/api/models/{quote(repo_id, safe='/')}/auth-check")
    try:
        transport.call("GET", url, "model_info", token, deadline=deadline)
    except HFError as exc:
        if exc.category in ("model_gated", "token_lacks_permission"):
            return False
        if exc.category == "timeout":
            raise
        return None
    return True


def canonical_repo_id(repo_id, token=None, deadline=None):
    """The id the Hub knows a model by (a renamed repo answers with a redirect, §4.2)."""
    info = model_info(repo_id, token, expand=("pipeline_tag",), deadline=deadline)
    return str(info.get("id") or repo_id), info


def provider_mapping(info):
    """{provider: status} from inferenceProviderMapping in either form (dict keyed by provider, or a list)."""
    mapping = info.get("inferenceProviderMapping") or {}
    if isinstance(mapping, list):
        return {m.get("provider"): m.get("status") for m in mapping if isinstance(m, dict)}
    if isinstance(mapping, dict):
        return {k: (v or {}).get("status") for k, v in mapping.items() if isinstance(v, dict)}
    return {}
