"""The typed failure every Hugging Face call ends in, its categories, and the parser for error bodies."""

import json
import re
from html import unescape

from django.utils.translation import gettext_lazy as _

# category -> (what happened, what to do)
CATEGORIES = {
    "invalid_token": (
        _("Hugging Face refused the API token."),
        _("Create a token at huggingface.co/settings/tokens and save it again; check it was copied whole."),
    ),
    "token_lacks_permission": (
        _("The token is valid but may not make this call."),
        _(
            "Use a fine-grained token with “Make calls to Inference Providers” (or, for a dedicated endpoint, "
            "inference permission on its namespace), or a read token."
        ),
    ),
    "payment_required": (
        _("The account has no credits left for this provider, or billing is not enabled."),
        _("Check billing at huggingface.co/settings/billing, or pick another provider."),
    ),
    "model_not_found": (
        _("No model with this name exists, or the token cannot see it."),
        _("Check the repo id (namespace/name) on huggingface.co; for a private model use a token with access."),
    ),
    "model_gated": (
        _("The model is gated and this account has not been granted access."),
        _("Open the model page on huggingface.co while logged in with the token's account and request access."),
    ),
    "model_not_served": (
        _("The Hosted Inference API (hf-inference) does not serve this model."),
        _(
            "Since July 2025 large language models are served through Inference Providers: change the endpoint "
            "type to Inference Providers, or deploy an Inference Endpoint."
        ),
    ),
    "wrong_task": (
        _("The model's task on the Hub is not the task configured here."),
        _("Set the task to the one the Hub lists for this model, or pick a model made for this task."),
    ),
    "model_loading": (
        _("The model is still loading."),
        _("Wait for the estimated time and try again."),
    ),
    "endpoint_paused_or_starting": (
        _("The Inference Endpoint is paused, scaled to zero or still starting."),
        _(
            "Resume a paused endpoint in the Inference Endpoints dashboard; a scaled-to-zero endpoint wakes on "
            "the first request (use “Wake and retry”)."
        ),
    ),
    "endpoint_not_found": (
        _("Nothing answers at this endpoint URL (404)."),
        _("Copy the endpoint URL again from the Inference Endpoints dashboard; use its base URL."),
    ),
    "not_text_generation_server": (
        _("The server at this URL answered, but not as a text-generation server."),
        _("Check that the URL is the endpoint's base URL and that it serves text-generation or chat."),
    ),
    "rate_limited": (
        _("Hugging Face is rate-limiting these requests."),
        _("Wait before retrying, or use a token from an account with a higher quota."),
    ),
    "input_rejected": (
        _("The server rejected the request's input or parameters."),
        _("Read the server's message below and adjust the prompt or generation parameters."),
    ),
    "upstream_error": (
        _("The Hugging Face service failed to answer the request."),
        _("Try again in a moment; if it persists, check status.huggingface.co or the endpoint's logs."),
    ),
    "bad_response": (
        _("The answer was not in the expected format."),
        _("Check that the URL points at a text-generation server and that the task matches the model."),
    ),
    "timeout": (
        _("The request took longer than the configured time limit."),
        _("Try again; for slow models raise HF_READ_TIMEOUT or HF_TEST_TIMEOUT."),
    ),
    "connection_refused": (
        _("The server refused the connection."),
        _("Check the host and port in the URL and that the server is running."),
    ),
    "connection_lost": (
        _("The connection was closed before the answer was complete."),
        _("Try again; if it keeps happening check the server's logs or any proxy in between."),
    ),
    "dns_failure": (
        _("The host name could not be resolved."),
        _("Check the spelling of the host, and this server's DNS settings."),
    ),
    "tls_error": (
        _("The secure connection failed (certificate or TLS error)."),
        _("Check the server's certificate; self-signed certificates are not accepted."),
    ),
    "blocked_by_url_policy": (
        _("The console's outbound URL policy does not allow this address."),
        _("Use a public https:// URL, or allow the host in OUTBOUND_ALLOWED_HOSTS / OUTBOUND_ALLOWED_NETWORKS."),
    ),
    "token_unreadable": (
        _("This token cannot be decrypted with the configured keys."),
        _("Restore the encryption key that was used to store it, or replace the token."),
    ),
    "endpoint_gone": (
        _("The Inference Endpoint no longer exists at this URL (410 Gone)."),
        _("It was deleted or renamed: copy its current URL from the Inference Endpoints dashboard, or redeploy it."),
    ),
    "answer_too_large": (
        _("The answer was larger than the console accepts."),
        _("Ask for a shorter answer (fewer new tokens), or raise HF_MAX_ANSWER_BYTES."),
    ),
    "run_interrupted": (
        _("The console stopped before this run ended (a restart or a crash)."),
        _("Run it again; what was streamed before the interruption is kept."),
    ),
    "no_token": (
        _("No API token is configured for this model or the provider."),
        _("Set the provider token on the Hugging Face page, or a token on this model."),
    ),
}


class HFError(Exception):
    """One failure, in one of CATEGORIES."""

    def __init__(self, category, message="", http_status=None, retry_after=None, estimated_time=None):
        assert category in CATEGORIES, category
        self.category = category
        self.message = str(message or CATEGORIES[category][0])
        self.http_status = http_status
        self.retry_after = retry_after
        self.estimated_time = estimated_time
        super().__init__(f"{category}: {self.message}")

    @property
    def explanation(self):
        return CATEGORIES[self.category][0]

    @property
    def fix(self):
        return CATEGORIES[self.category][1]

    def as_dict(self):
        return {
            "category": self.category,
            "message": self.message,
            "explanation": str(self.explanation),
            "fix": str(self.fix),
            "http_status": self.http_status,
            "retry_after": self.retry_after,
            "estimated_time": self.estimated_time,
        }


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
