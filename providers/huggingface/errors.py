"""The typed failure every Hugging Face call ends in, its categories, and the parser for error bodies."""

import json
import re
from html import unescape

from django.utils.translation import gettext_lazy as _

HOSTED = "hosted_api"
ENDPOINT = "inference_endpoint"
PROVIDERS = "inference_providers"
# The variant of an Inference Endpoint URL that is not on Hugging Face's hosts (llama.cpp, vLLM, ... of the team's
# own): its advice is about that server and the model's own API token field.
SELF_HOSTED = "self_hosted"

# The one table of words for failures. For each category: a short `title` (fits a badge), the default
# `message` (what happened, when the server said nothing better), and the advice: `*` for any endpoint
# type, or one per endpoint type, or `<type>+<variant>` for a situation the diagnosis names (see `wording`).
# Advice may use the diagnosis's context: %(live)s (live providers), %(first)s (the first of them), %(repo)s.
WORDING = {
    "invalid_token": {
        "title": _("Token refused"),
        "message": _("Hugging Face refused the API token."),
        "*": _(
            "Create a token at huggingface.co/settings/tokens and save it as the provider token (or in this model's "
            "“API token” field); check it was copied whole."
        ),
        ENDPOINT: _(
            "Use a token of an account that may call this endpoint (its organization), as the provider token or in "
            "this model's “API token” field; create one at huggingface.co/settings/tokens."
        ),
        ENDPOINT + "+" + SELF_HOSTED: _(
            "This server refused the key it was sent. Enter the key the server was started with (for example "
            "llama-server's or vLLM's --api-key) in this model's “API token” field."
        ),
    },
    "token_lacks_permission": {
        "title": _("Token lacks permission"),
        "message": _("The token is valid but may not make this call."),
        "*": _("Give the fine-grained token the permission “Make calls to Inference Providers”, or use a read token."),
        ENDPOINT: _(
            "Give the fine-grained token inference permission on the endpoint's namespace, or use a read token "
            "of that organization."
        ),
        ENDPOINT + "+" + SELF_HOSTED: _(
            "This server refused the request with this key. Check the key in this model's “API token” field and "
            "what the server allows."
        ),
    },
    "payment_required": {
        "title": _("No credits left"),
        "message": _("The account has no credits left for this provider, or billing is not enabled."),
        "*": _("Add credits or enable billing at huggingface.co/settings/billing."),
        PROVIDERS: _(
            "Add credits or enable billing at huggingface.co/settings/billing, or choose another provider with a "
            "“:provider” suffix."
        ),
    },
    "model_not_found": {
        "title": _("Model not found"),
        "message": _("No model with this name exists, or the token cannot see it."),
        "*": _("Check the repo id (namespace/name) on huggingface.co; for a private model use a token with access."),
        ENDPOINT: _("Check the endpoint URL and the model it serves in the Inference Endpoints dashboard."),
        ENDPOINT + "+" + SELF_HOSTED: _("Check the endpoint URL and the model the server was started with."),
    },
    "model_gated": {
        "title": _("Access not granted"),
        "message": _("The model is gated and this account has not been granted access."),
        "*": _("Open the model page on huggingface.co while logged in with the token's account and request access."),
    },
    "model_not_served": {
        "title": _("Not served here"),
        "message": _("This endpoint type does not serve this model."),
        "*": _("Choose the endpoint type that serves this model, or deploy an Inference Endpoint."),
        HOSTED: _(
            "The Hosted Inference API serves mostly small models since July 2025. Deploy an Inference Endpoint, "
            "or choose Inference Providers if a provider serves the model."
        ),
        HOSTED + "+live": _("Change the endpoint type to Inference Providers: %(live)s serve this model live."),
        PROVIDERS: _(
            "No Inference Provider serves this model. For a small model such as openai-community/gpt2 choose the "
            "endpoint type Hosted Inference API; otherwise deploy an Inference Endpoint."
        ),
        PROVIDERS + "+hosted": _(
            "Change the endpoint type to Hosted Inference API and the task to text-generation: it serves %(repo)s."
        ),
        PROVIDERS + "+suffix": _(
            "Use “:%(first)s”, or drop the suffix to let the router choose. Live providers: %(live)s."
        ),
        PROVIDERS + "+vectors": _(
            "Use “:%(first)s”, or drop the suffix to take the first provider the console can reach. Providers "
            "computing its embeddings that the console can reach: %(live)s."
        ),
        PROVIDERS + "+no_vectors": _(
            "Choose the endpoint type Hosted Inference API if hf-inference serves the model, or deploy it as an "
            "Inference Endpoint running text-embeddings-inference."
        ),
    },
    "wrong_task": {
        "title": _("Wrong task"),
        "message": _("The model's task on the Hub is not the task configured here."),
        "*": _("Set the task to the one the Hub lists for this model, or pick a model made for this task."),
        ENDPOINT: _("Set the task to the one the endpoint's model is made for, or deploy a text-generation model."),
        PROVIDERS: _("Inference Providers serve chat models: pick an instruct or chat model."),
    },
    "model_loading": {
        "title": _("Model loading"),
        "message": _("The model is still loading."),
        "*": _("Wait for the estimated time and try again."),
        ENDPOINT: _("The endpoint is loading its model; wait a minute and test again."),
        ENDPOINT + "+" + SELF_HOSTED: _("The server is loading its model; wait until it has loaded and try again."),
    },
    "endpoint_paused": {
        "title": _("Endpoint paused"),
        "message": _("The Inference Endpoint is paused: it answers no request until it is resumed."),
        "*": _(
            "A paused endpoint does not wake by itself. Only someone who manages it can resume it: an admin of "
            "this console (Resume on the model's page) or its owner in the Inference Endpoints dashboard."
        ),
    },
    "endpoint_paused_or_starting": {
        "title": _("Endpoint not ready"),
        "message": _("The Inference Endpoint is scaled to zero or still starting."),
        "*": _("The endpoint wakes on a request and takes a few minutes to start: try again in a minute."),
        ENDPOINT + "+" + SELF_HOSTED: _(
            "The server is not ready (starting, or busy behind a proxy): wait a moment and try again; if it "
            "persists, read the server's logs."
        ),
    },
    "endpoint_failed": {
        "title": _("Endpoint failed"),
        "message": _("The Inference Endpoint failed to start, so it answers no request."),
        "*": _(
            "It will not wake by itself. Someone who manages it can read why in the Inference Endpoints dashboard "
            "(its logs), fix its settings and start it again; until then choose another model."
        ),
    },
    "endpoint_waking": {
        "title": _("Endpoint still waking"),
        "message": _("The Inference Endpoint was scaled to zero or starting, and was not ready in time."),
        "*": _(
            "It goes on starting after this request: try again in a minute or two. If it never becomes ready, an "
            "admin can see its state and logs in the Inference Endpoints dashboard (it may have failed)."
        ),
    },
    "endpoint_not_found": {
        "title": _("Endpoint not found"),
        "message": _("Nothing answers at this endpoint URL (404)."),
        "*": _("Copy the endpoint URL again from the Inference Endpoints dashboard; use its base URL."),
        ENDPOINT + "+" + SELF_HOSTED: _(
            "Check the URL: use the server's base URL (such as http://host:8080), without a route after it."
        ),
    },
    "not_text_generation_server": {
        "title": _("Not a text-generation server"),
        "message": _("The server at this URL answered, but not as a text-generation server."),
        "*": _("Check that the URL is the endpoint's base URL and that it serves text-generation or chat."),
    },
    "rate_limited": {
        "title": _("Rate limited"),
        "message": _("Hugging Face is rate-limiting these requests."),
        "*": _("Wait before retrying, or use a token from an account with a higher quota."),
        PROVIDERS: _("Wait before retrying, choose another provider with a “:provider” suffix, or raise the quota."),
        PROVIDERS + "+switch": _("Wait before retrying, or switch to one of these providers: %(live)s."),
    },
    "input_rejected": {
        "title": _("Input rejected"),
        "message": _("The server rejected the request's input or parameters."),
        "*": _("Read the server's message and adjust the prompt or the generation parameters."),
    },
    "upstream_error": {
        "title": _("Service error"),
        "message": _("The Hugging Face service failed to answer the request."),
        "*": _("Try again in a moment; if it persists, check status.huggingface.co or the endpoint's logs."),
        PROVIDERS: _("Try again in a moment, or choose another provider with a “:provider” suffix."),
        PROVIDERS + "+switch": _("This provider is failing. Switch to one of these providers: %(live)s."),
        ENDPOINT: _("Try again; if it persists, read the endpoint's logs in the Inference Endpoints dashboard."),
        ENDPOINT + "+" + SELF_HOSTED: _("Try again; if it persists, read the server's logs."),
    },
    "bad_response": {
        "title": _("Unexpected answer"),
        "message": _("The answer was not in the expected format."),
        "*": _("Check that the URL points at a text-generation server and that the task matches the model."),
        PROVIDERS: _("Try again, or choose another provider with a “:provider” suffix."),
        PROVIDERS + "+switch": _(
            "This provider answered in an unexpected way. Switch to one of these providers: %(live)s."
        ),
    },
    "timeout": {
        "title": _("Timed out"),
        "message": _("The request took longer than the configured time limit."),
        "*": _("Try again; a slow model may need a longer time limit, which an admin can set."),
        PROVIDERS + "+switch": _("This provider is not answering in time. Switch to one of these providers: %(live)s."),
    },
    "connection_refused": {
        "title": _("Connection refused"),
        "message": _("The server refused the connection."),
        "*": _("Check that this server may reach huggingface.co (firewall, proxy)."),
        ENDPOINT: _("Check the host and port in the URL and that the server is running."),
        ENDPOINT + "+" + SELF_HOSTED: _("Check that the server at this address is running and listens on this port."),
    },
    "connection_lost": {
        "title": _("Connection lost"),
        "message": _("The connection was closed before the answer was complete."),
        "*": _("Try again; if it keeps happening check the server's logs or any proxy in between."),
        PROVIDERS + "+switch": _("This provider dropped the connection. Switch to one of these providers: %(live)s."),
    },
    "dns_failure": {
        "title": _("Host not found"),
        "message": _("The host name could not be resolved."),
        "*": _("Check the spelling of the host, and this server's DNS settings."),
    },
    "tls_error": {
        "title": _("Secure connection failed"),
        "message": _("The secure connection failed (certificate or TLS error)."),
        "*": _("Check the server's certificate; self-signed certificates are not accepted."),
    },
    "blocked_by_url_policy": {
        "title": _("Address not allowed"),
        "message": _("The console's outbound URL policy does not allow this address."),
        "*": _("Use a public https:// URL, or ask an admin to allow this host."),
    },
    "token_unreadable": {
        "title": _("Token unreadable"),
        "message": _("This token cannot be decrypted with the configured keys."),
        "*": _("Restore the encryption key that was used to store it, or replace the token."),
    },
    "endpoint_gone": {
        "title": _("Endpoint gone"),
        "message": _("The Inference Endpoint no longer exists at this URL (410 Gone)."),
        "*": _(
            "It was deleted or renamed: copy its current URL from the Inference Endpoints dashboard, or redeploy it."
        ),
    },
    "answer_too_large": {
        "title": _("Answer too large"),
        "message": _("The answer was larger than the console accepts."),
        "*": _("Ask for a shorter answer (fewer new tokens)."),
    },
    "run_interrupted": {
        "title": _("Run interrupted"),
        "message": _("The console stopped before this run ended (a restart or a crash)."),
        "*": _("Run it again; what was streamed before the interruption is kept."),
    },
    "no_token": {
        "title": _("No API token"),
        "message": _("No API token is configured for this model or the provider."),
        "*": _("Set the provider token on the Hugging Face page, or a token on this model."),
        ENDPOINT + "+" + SELF_HOSTED: _(
            "The provider token goes only to Hugging Face's own hosts. Enter this server's key in the model's "
            "“API token” field, or tick “Send the provider token to this URL” if this server should get it."
        ),
    },
}

# Failures of one provider (of Inference Providers) that another provider may not have: their advice names the live
# alternatives (the variant "switch", context %(live)s) when the router's catalog lists some.
SWITCHABLE = ("timeout", "upstream_error", "bad_response", "rate_limited", "connection_lost")

# What only an admin can change: the console's own settings, named to admins only (members cannot act on them).
ADMIN_HINTS = {
    "timeout": _(
        "Admins: the limits are HF_READ_TIMEOUT (silence while reading) and HF_TEST_TIMEOUT (a whole Test connection)."
    ),
    "answer_too_large": _("Admins: the limit is HF_MAX_ANSWER_BYTES."),
    "endpoint_waking": _("Admins: the wait for an endpoint to wake is HF_SCALE_UP_TIMEOUT."),
    "blocked_by_url_policy": _(
        "Admins: allowed hosts and networks are set in OUTBOUND_ALLOWED_HOSTS and OUTBOUND_ALLOWED_NETWORKS."
    ),
}

# category -> (what happened, what to do for any endpoint type); kept for callers that need no endpoint type.
CATEGORIES = {category: (words["message"], words["*"]) for category, words in WORDING.items()}


def wording(category, endpoint_type="", variant="", **context):
    """(title, advice) for a category as it applies to an endpoint type, with the diagnosis's context filled in."""
    words = WORDING.get(category)
    if words is None:  # a category added elsewhere in the old (message, advice) style
        message, advice = CATEGORIES.get(category, ("", ""))
        return str(message), str(advice)
    advice = words["*"]
    for key in (f"{endpoint_type}+{variant}", endpoint_type):
        if key in words:
            advice = words[key]
            break
    advice = str(advice)
    if context:
        try:
            advice = advice % {k: str(v) for k, v in context.items()}
        except (KeyError, ValueError):
            pass
    return str(words["title"]), advice


class HFError(Exception):
    """One failure, in one of CATEGORIES. `variant` and `context` refine its advice (see `wording`)."""

    def __init__(
        self,
        category,
        message="",
        http_status=None,
        retry_after=None,
        estimated_time=None,
        variant="",
        context=None,
        upstream=False,
    ):
        assert category in CATEGORIES, category
        self.category = category
        self.message = str(message or CATEGORIES[category][0])
        # The message is the upstream's own text, or a fact about the network (an internal URL, what a host
        # resolves to): for admins, who can act on it; others see the category's words only.
        self.upstream = bool(upstream and message)
        self.http_status = http_status
        self.retry_after = retry_after
        self.estimated_time = estimated_time
        self.variant = variant
        self.context = context or {}
        super().__init__(f"{category}: {self.message}")

    def wording(self, endpoint_type=""):
        return wording(self.category, endpoint_type, self.variant, **self.context)

    @property
    def explanation(self):
        return CATEGORIES[self.category][0]

    @property
    def fix(self):
        return CATEGORIES[self.category][1]

    def shown_message(self, detail=True):
        """The message for someone who may see the upstream's detail (`detail`), or for anyone else: the
        category's words, except that a refused input keeps the server's reason (the person's own prompt or
        parameters are its subject), without any address in it."""
        if detail or not self.upstream:
            return self.message
        if self.category == "input_rejected":
            return _ADDRESS_RE.sub("[…]", self.message)
        return str(self.explanation)

    def page_words(self, detail=True):
        """(message, upstream) for a page: the message in the console's words (translated), and the upstream's
        own text apart, for someone who may see it (`detail`), labelled as the server's words where shown. A
        refused input's reason is everyone's (their own prompt or parameters are its subject), without addresses."""
        if not self.upstream:
            return self.message, ""
        return str(self.explanation), upstream_words(self.category, self.message, detail)

    def for_admin(self):
        """One sentence for an admin's screen: the console's words, then the upstream's own, said to be its."""
        message, upstream = self.page_words()
        if not upstream:
            return message
        return _("%(words)s The server’s own words: “%(upstream)s”") % {"words": message, "upstream": upstream}

    def as_dict(self, endpoint_type="", detail=True):
        title, advice = self.wording(endpoint_type)
        message, upstream = self.page_words(detail)
        return {
            "category": self.category,
            "title": title,
            "message": message,
            "upstream": upstream,
            "admin_hint": str(ADMIN_HINTS.get(self.category, "")) if detail else "",
            "explanation": str(self.explanation),
            "advice": advice,
            "fix": advice,
            "http_status": self.http_status,
            "retry_after": self.retry_after,
            "estimated_time": self.estimated_time,
        }


def upstream_words(category, text, detail):
    """The upstream's own text as a page may show it: whole to an admin (`detail`); to anyone else only a refused
    input's reason (their own prompt or parameters are its subject), without any address in it."""
    if detail:
        return text
    return _ADDRESS_RE.sub("[…]", text) if category == "input_rejected" else ""


def parse_error_body(text, headers=None):
    """(message, error_type, extra) from any of the error-body forms, with X-Error-Message as a fallback.

    Forms: {"error": str}, {"error": [str, ...]}, {"error": str, "error_type": str},
    {"error": {"message": ..., "http_status_code": ...}}, {"error": ..., "error_description": ...},
    OpenAI's {"message": ...} (flat, as vLLM < 0.10.1, SGLang and TEI send it), and plain text.
    """
    headers = headers or {}
    header_message = headers.get("X-Error-Message", "")
    extra = {}
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        error_type = body.get("error_type") or ""
        if isinstance(error, list):
            message = "; ".join(str(e) for e in error)
        elif isinstance(error, dict):
            message = str(error.get("message") or "")
            error_type = error_type or str(error.get("type") or "")
            extra["http_status_code"] = error.get("http_status_code")
        elif error is not None:
            message = str(error)
        else:
            message = str(body.get("message") or "")
            error_type = error_type or str(body.get("type") or "")  # flat: vLLM < 0.10.1, SGLang, TEI's /v1
        if body.get("error_description"):
            message = f"{message}: {body['error_description']}" if message else str(body["error_description"])
        if "estimated_time" in body:
            extra["estimated_time"] = body.get("estimated_time")
        return (message or header_message), error_type, extra
    message = readable_text(text or "")
    if len(message) > 500:
        message = message[:500] + "…"
    return (message or header_message), "", extra


def retry_after_of(headers):
    """The seconds a 429 or 503 says to wait: Retry-After, else the RateLimit header's `t=`; None if neither."""
    value = headers.get("Retry-After", "")
    if value.strip().isdigit():
        return float(value)
    match = re.search(r";t=(\d+)", headers.get("RateLimit", ""))
    return float(match.group(1)) if match else None


# URLs, IPv4 addresses and host:port pairs: the network's layout, which only admins read.
_ADDRESS_RE = re.compile(
    r"[a-z][a-z0-9+.-]*://\S+|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b|\b[\w.-]+\.[a-z]{2,}:\d+\b", re.IGNORECASE
)
_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HIDDEN_RE = re.compile(r"<(script|style|head)[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<[^>]+>")


def readable_text(text):
    """Plain text stays as it is; an HTML page (a proxy's error page) becomes its title, or its visible text."""
    stripped = text.strip()
    if not re.match(r"(<!doctype|<html|<head|<body|<\?xml|<center|<h1)", stripped, re.IGNORECASE):
        return stripped
    title = _TITLE_RE.search(stripped)
    if title and title.group(1).strip():
        return " ".join(unescape(title.group(1)).split())
    return " ".join(unescape(_TAG_RE.sub(" ", _HIDDEN_RE.sub(" ", stripped))).split())
