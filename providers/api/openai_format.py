"""OpenAI's wire format: requests parsed into the console's terms, answers, stream chunks and error bodies.

Parameters go through the same fields and rules as the playground (providers/generation_params.py).
"""

import json
import os
import time

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _

from providers.core.parameters import check_parameters, parameter_fields
from providers.huggingface import numbers

DONE = b"data: [DONE]\n\n"
HEARTBEAT = b": keep-alive\n\n"
WAKING = b": waking the endpoint\n\n"  # instead of HEARTBEAT while a scaled-to-zero endpoint wakes


def waking_or_alive(upstream):
    """The SSE comment for a second of silence of `upstream` (a generation): what it waits for."""
    return WAKING if getattr(upstream, "waking", False) else HEARTBEAT


# OpenAI's parameter name -> the console's (both routes); the first name found wins.
PARAMETER_NAMES = {
    "max_completion_tokens": "max_new_tokens",
    "max_tokens": "max_new_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "repetition_penalty": "repetition_penalty",
    "stop": "stop_sequences",
    "seed": "seed",
}
CHAT_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "function_call")


class BadRequest(Exception):
    def __init__(self, message, param=None, code=None):
        self.message = str(message)
        self.param = param
        self.code = code
        super().__init__(self.message)


def ambiguous(name, ids):
    return BadRequest(
        _("%(model)s names more than one model here; send one of their ids: %(ids)s.")
        % {"model": name, "ids": ", ".join(ids)},
        param="model",
        code="model_ambiguous",
    )


def parse_body(raw):
    if len(raw) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:  # Django refuses first; kept for a body read otherwise
        raise BadRequest(_("The request body is too large."))
    try:
        body = json.loads(raw or b"null")
    except (ValueError, RecursionError):
        raise BadRequest(_("The request body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise BadRequest(_("The request body must be a JSON object."))
    return body


# The fields of the console's parameter form, built once: a field's clean() keeps no state (its messages are
# lazy, so each request still gets its own language), and a form per call cost more than its checks (fresh
# fields, then Django's deep copy of them) on the API's hot path.
_FIELDS = {"seed": forms.IntegerField(required=False, min_value=0, max_value=2**63 - 1), **parameter_fields()}


def _clean(data):
    """(cleaned, None) or (None, (field, first message)): what a form of _FIELDS reports, its first error first."""
    cleaned = {}
    for name, field in _FIELDS.items():
        try:
            cleaned[name] = field.clean(field.widget.value_from_datadict(data, {}, name))
        except forms.ValidationError as exc:
            return None, (name, exc.messages[0])
    return cleaned, None


def _openai_name(console_name, body):
    names = [k for k, v in PARAMETER_NAMES.items() if v == console_name]
    return next((n for n in names if n in body), names[0] if names else console_name)


def parameters(body, task, target=None):
    """The console's parameters from an OpenAI body, checked with the console's rules and those of the upstream
    behind `target` (None: a model that cannot be called, which the call reports)."""
    data = {}
    for name, console_name in PARAMETER_NAMES.items():
        value = body.get(name)
        if value is None or console_name in data:
            continue
        if isinstance(value, bool) or (console_name != "stop_sequences" and not isinstance(value, (int, float))):
            raise BadRequest(_("This parameter must be a number."), param=name)
        if console_name == "stop_sequences":
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise BadRequest(_("stop must be a string or a list of strings."), param=name)
        data[console_name] = value
    cleaned, problem = _clean(data)
    if problem:
        field, message = problem
        raise BadRequest(message, param=_openai_name(field, body))
    cleaned = {k: v for k, v in cleaned.items() if v not in (None, "", [])}
    if cleaned.get("top_p") == 0:
        # OpenAI reads top_p 0 as "the most likely token only", which is greedy decoding; TGI and vLLM refuse 0.
        for name in ("top_p", "temperature", "top_k"):
            cleaned.pop(name, None)
        cleaned["do_sample"] = False
    if task != "chat":
        # OpenAI's meanings, not TGI's /generate rules: temperature 0 is greedy decoding and top_p 1 (the API's
        # default) is no nucleus sampling; TGI refuses both values, so they are said the way it understands.
        if cleaned.get("temperature") == 0:
            del cleaned["temperature"]
            cleaned["do_sample"] = False
        if cleaned.get("top_p", 0) >= 1:
            del cleaned["top_p"]
    problems = check_parameters(cleaned, target) if target is not None else {}
    if problems:
        field, message = next(iter(problems.items()))
        raise BadRequest(message, param=_openai_name(field, body))
    return cleaned


def merged(defaults, requested):
    """The model's default parameters under the request's; a greedy request drops the sampling defaults (TGI
    samples whenever a temperature, top-p or top-k is set, whatever do_sample says)."""
    params = {**defaults, **requested}
    if requested.get("do_sample") is False:
        for name in ("temperature", "top_p", "top_k"):
            if name not in requested:
                params.pop(name, None)
    return params


def stream_options(body):
    """(stream, include_usage)"""
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest(_("stream must be true or false."), param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise BadRequest(_("stream_options must be an object."), param="stream_options")
    return stream, bool(stream and options.get("include_usage"))


def _text(content):
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: only text is understood
        texts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "image_url":
                raise BadRequest(
                    _("This model's server takes text only on this route; image_url parts cannot be carried."),
                    param="messages",
                    code="image_input_unsupported",
                )
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                return None
            texts.append(part["text"])
        return "".join(texts)
    return None


def chat_messages(body):
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest(_("messages must be a non-empty list."), param="messages")
    result = []
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        role = CHAT_ROLES.get(role) if isinstance(role, str) else None  # a list or object is not a role
        content = _text(message.get("content")) if role else None
        if role is None or content is None:
            raise BadRequest(
                _("Each message needs a role (system, user or assistant) and text content."), param="messages"
            )
        result.append({"role": role, "content": content})
    return result


# OpenAI's name -> TGI's, for the few that differ: errors of the TGI route name what its caller sent.
TGI_NAMES = {"max_tokens": "max_new_tokens"}


def tgi_request(body):
    """(prompt, an OpenAI-shaped body) from TGI's compat body, which huggingface_hub's text_generation posts to
    the URL it was given: {"inputs": str, "parameters": {...}, "stream": bool}."""
    prompt = body.get("inputs")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadRequest(_("inputs must be one non-empty string."), param="inputs")
    given = body.get("parameters") or {}
    if not isinstance(given, dict):
        raise BadRequest(_("parameters must be an object."), param="parameters")
    shaped = {name: given.get(name) for name in ("temperature", "top_p", "top_k", "repetition_penalty", "stop", "seed")}
    shaped["max_tokens"] = given.get("max_new_tokens")
    shaped["stream"] = body.get("stream", False)
    return prompt, shaped, bool(given.get("details"))


def completion_prompt(body):
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if isinstance(prompt, list) and len(prompt) > 1 and all(isinstance(p, str) for p in prompt):
        # TGI and the hosted pipelines generate for one prompt per request; the console does not fan out.
        raise BadRequest(
            _("This model's server takes one prompt per call; send a call for each prompt."),
            param="prompt",
            code="unsupported_parameter",
        )
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadRequest(_("prompt must be one non-empty string."), param="prompt")
    return prompt


# --- answers --------------------------------------------------------------------------------------------


def new_id(route):
    # As random as uuid4().hex[:24], without building a UUID on every call.
    return ("chatcmpl-" if route == "chat" else "cmpl-") + os.urandom(12).hex()


def finish_reason(reason):
    return reason if reason in FINISH_REASONS else "stop"


count = numbers.count  # a token count as OpenAI clients expect it: an int >= 0, else None


def usage(prompt_tokens, completion_tokens):
    """The counts known, each a whole number; a count not known is left out, never null (the AI SDK refuses a
    null count, hf-protocol.md §18.2). Empty when none is known."""
    prompt_tokens, completion_tokens = count(prompt_tokens), count(completion_tokens)
    counts = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    if prompt_tokens is not None and completion_tokens is not None:
        counts["total_tokens"] = prompt_tokens + completion_tokens
    return {k: v for k, v in counts.items() if v is not None}


def whole(route, answer_id, model_id, text, reason, tokens):
    created = int(time.time())
    if route == "chat":
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish_reason(reason),
            "logprobs": None,
        }
        kind = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "finish_reason": finish_reason(reason), "logprobs": None}
        kind = "text_completion"
    answer = {"id": answer_id, "object": kind, "created": created, "model": model_id, "choices": [choice]}
    counts = usage(*tokens)
    if counts:
        answer["usage"] = counts
    return answer


def chunk(route, answer_id, model_id, text=None, reason=None, first=False, include_usage=False, created=None):
    if route == "chat":
        delta = {"role": "assistant", "content": text or ""} if first else ({"content": text} if text else {})
        choice = {"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}
        kind = "chat.completion.chunk"
    else:
        choice = {"index": 0, "text": text or "", "finish_reason": reason, "logprobs": None}
        kind = "text_completion"
    created = int(time.time()) if created is None else created
    event = {"id": answer_id, "object": kind, "created": created, "model": model_id, "choices": [choice]}
    if include_usage:
        event["usage"] = None
    return event


_PLACEHOLDER = "\x00"  # json.dumps writes it "\u0000", which no id or model id of the console contains


class TokenChunks:
    """sse(chunk(...)) of a token (some text, not the first chunk, no finish reason): the same bytes, with the
    constant parts encoded once per second of `created` instead of a dict built and dumped per token."""

    def __init__(self, route, answer_id, model_id, include_usage):
        self.route, self.answer_id, self.model_id, self.include_usage = route, answer_id, model_id, include_usage
        self.created = None
        self.head = self.tail = b""

    def __call__(self, text):
        now = int(time.time())
        if now != self.created:
            event = chunk(self.route, self.answer_id, self.model_id, _PLACEHOLDER, None, False, self.include_usage, now)
            head, found, tail = json.dumps(event).partition(json.dumps(_PLACEHOLDER))
            if not found or json.dumps(_PLACEHOLDER) in tail:
                return sse(chunk(self.route, self.answer_id, self.model_id, text, None, False, self.include_usage))
            self.created, self.head, self.tail = now, b"data: " + head.encode(), tail.encode() + b"\n\n"
        return self.head + json.dumps(text).encode() + self.tail


def usage_chunk(route, answer_id, model_id, tokens):
    kind = "chat.completion.chunk" if route == "chat" else "text_completion"
    return {
        "id": answer_id,
        "object": kind,
        "created": int(time.time()),
        "model": model_id,
        "choices": [],
        "usage": usage(*tokens),
    }


def sse(event):
    # ASCII escapes: a lone surrogate an upstream sent (a token cut inside an emoji) stays a valid JSON escape
    # instead of failing to encode as UTF-8 mid-stream.
    return b"data: " + json.dumps(event).encode() + b"\n\n"


def tgi_whole(text, reason, tokens, details):
    item = {"generated_text": text}
    if details:
        item["details"] = {"finish_reason": _tgi_reason(reason), "generated_tokens": tokens[1], "seed": None}
    return [item]


def _tgi_reason(reason):
    return {"stop": "eos_token", "length": "length"}.get(finish_reason(reason), "eos_token")


def tgi_token(index, text):
    return {
        "index": index,
        "token": {"id": 0, "text": text, "logprob": 0.0, "special": False},
        "generated_text": None,
        "details": None,
    }


def tgi_last(index, text, reason, tokens):
    return {
        "index": index,
        "token": {"id": 0, "text": "", "logprob": 0.0, "special": True},
        "generated_text": text,
        "details": {"finish_reason": _tgi_reason(reason), "generated_tokens": tokens[1], "seed": None},
    }


def model_object(entry, features=None):
    """OpenAI's model object, with the console's extra fields: the task, the repo id and what the model can do."""
    found = {"id": entry.api_id, "object": "model", "created": entry.created, "owned_by": "console", "task": entry.task}
    if entry.repo_id:
        found["repo_id"] = entry.repo_id
    if features:
        found["capabilities"] = {k: v for k, v in features.items() if k != "context_length"}
        if "context_length" in features:
            found["context_length"] = features["context_length"]
    return found


# --- errors -----------------------------------------------------------------------------------------------

# Diagnosis category -> (HTTP status, OpenAI error type, whether the same call may succeed later).
# Problems of the console's own configuration answer 502 with x-should-retry: false: the caller's key and
# request are fine, retrying will not help, an admin must act.
UPSTREAM_STATUS = {
    "rate_limited": (429, "rate_limit_error", True),
    "model_loading": (503, "service_unavailable", True),
    "endpoint_paused_or_starting": (503, "service_unavailable", True),
    "endpoint_waking": (503, "service_unavailable", True),  # it goes on starting: the same call works soon
    "endpoint_paused": (503, "service_unavailable", False),  # it needs someone to resume it first
    "endpoint_failed": (503, "service_unavailable", False),  # someone must fix and start it
    "timeout": (504, "timeout", True),
    "connection_refused": (502, "upstream_error", True),
    "connection_lost": (502, "upstream_error", True),
    "dns_failure": (502, "upstream_error", True),
    "upstream_error": (502, "upstream_error", True),
    "input_rejected": (400, "invalid_request_error", False),
    "run_interrupted": (503, "service_unavailable", True),  # the console restarting: the same call will work
}
CONFIGURATION_PROBLEM = (502, "upstream_configuration_error", False)


def error_body(message, error_type, code, param=None, **extra):
    return {"error": {"message": str(message), "type": error_type, "param": param, "code": code, **extra}}


def upstream_error(exc, detail=False, endpoint_type=""):
    """(status, body, retryable, retry_after) for an HFError. The upstream's own words only with `detail` (the key's
    owner is an admin); the advice for the model's endpoint type."""
    status, error_type, retryable = UPSTREAM_STATUS.get(exc.category, CONFIGURATION_PROBLEM)
    # Either may come from the upstream's body unchecked (a string, a negative number, NaN).
    retry_after = count(exc.retry_after) or count(exc.estimated_time)
    if retryable and retry_after is None and status in (429, 503):
        retry_after = 5
    message = exc.shown_message(detail)
    explanation = str(exc.explanation)
    if explanation not in message:
        message = f"{explanation} {message}"
    advice = exc.wording(endpoint_type)[1]
    body = error_body(message, error_type, exc.category, category=exc.category, retryable=retryable, fix=advice)
    return status, body, retryable, retry_after
