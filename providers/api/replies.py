"""What the API answers besides a stream: the JSON answer whose call is recorded once it is sent, and the errors
in OpenAI's shape (the console's own refusals and the upstream's failures, in the words the key's owner may read)."""

import time

from django.http import JsonResponse
from django.utils.translation import gettext as _

from providers.api import openai_format as fmt


class RecordedResponse(JsonResponse):
    """A whole answer or an error; its call is recorded once the server has sent it."""

    def __init__(self, data, record=None, status=200, headers=None, safe=True):
        super().__init__(data, status=status, headers=headers, safe=safe)
        self.record = record
        self["Cache-Control"] = "no-store"

    def close(self):
        try:
            if self.record is not None:
                self.record.save()
        finally:
            super().close()


def error(status, message, error_type, code, record=None, param=None, headers=None, **extra):
    if record is not None:
        record.status, record.category = status, record.category or code or ""
        record.finish(time.perf_counter())
    return RecordedResponse(fmt.error_body(message, error_type, code, param, **extra), record, status, headers)


def retry_headers(seconds):
    return {"Retry-After": str(int(seconds)), "retry-after-ms": str(int(seconds * 1000))}


def limited(exc):
    """A 429 of the console's own limits. Not recorded as a call (a script hammering a limit must not fill the
    table): Django's log line per refused request is its trace."""
    if exc.code == "too_many_streams":
        message = _("This key already holds as many open streams as it may; wait for one to end.")
    else:
        message = _("This key made more requests this minute than it may; wait %(seconds)s s.") % {
            "seconds": exc.retry_after
        }
    return error(429, message, "rate_limit_error", exc.code, headers=retry_headers(exc.retry_after))


def model_not_found(name, record):
    return error(
        404,
        _("The model %(model)s does not exist or is not enabled; GET /v1/models lists the ones you may use.")
        % {"model": name},
        "invalid_request_error",
        "model_not_found",
        record,
        param="model",
    )


def not_generative(entry):
    route = "/v1/embeddings" if entry.task == "feature-extraction" else "/v1/rerank"
    return fmt.BadRequest(
        _("%(model)s computes embeddings or rerank scores and does not generate text: send its requests to %(route)s.")
        % {"model": entry.api_id, "route": route},
        param="model",
        code="model_not_generative",
    )


def bad_request(exc, record):
    return error(400, exc.message, "invalid_request_error", exc.code or "invalid_request", record, param=exc.param)


def shown(exc, record):
    """upstream_error(exc) as the key's owner may read it, with the advice for the model's endpoint type."""
    target = record.entry.target if record.entry is not None else None
    detail = record.caller is not None and record.caller.owner_is_admin
    return fmt.upstream_error(exc, detail, target.endpoint_type if target is not None else "")


def upstream_failure(exc, record):
    status, body, retryable, retry_after = shown(exc, record)
    headers = {"x-should-retry": "true" if retryable else "false"}
    if retry_after is not None and retryable:
        headers.update(retry_headers(max(1, min(60, retry_after))))
    record.status, record.category = status, exc.category
    record.finish(time.perf_counter())
    return RecordedResponse(body, record, status, headers)
