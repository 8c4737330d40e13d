"""The OpenAI-compatible routes under /v1/: a key instead of a session, JSON in, JSON or SSE out.

Once warm, a call costs one query (the freshness number) before the upstream is called: the key, its owner's
permission, the model and its decrypted token come from the process's cache. The call's record is written in
the response's close(), after the answer has been handed to the server.
"""

import functools
import time

from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from providers.api import accounting, catalog, keys, limits, relay, replies, translated, usage
from providers.api import openai_format as fmt
from providers.api.accounting import CallRecord
from providers.core import freshness
from providers.core.db import release_connection
from providers.huggingface import adapters, transport
from providers.huggingface import relay as hf_relay
from providers.huggingface.errors import HFError
from providers.huggingface.generation import generate
from providers.models import EMBEDDING_TASKS


class EventStreamResponse(StreamingHttpResponse):
    """An SSE answer; the upstream is closed, the stream's slot freed and the call recorded when the server
    closes it (also when the caller went away before the first event was read)."""

    def __init__(self, answer, slot):
        self.events = answer.events()
        joined = getattr(answer.upstream, "joined", None)  # events that came in one read, in one write
        super().__init__(joined(self.events) if joined else self.events, content_type="text/event-stream")
        self.answer, self.slot = answer, slot
        self["Cache-Control"] = "no-store"
        self["X-Accel-Buffering"] = "no"  # a reverse proxy must pass each event on as it comes

    def __iter__(self):
        # The events are bytes already: Django's iterator would pass each one through make_bytes, a call per token.
        return self._iterator

    def close(self):
        try:
            self.events.close()
            self.answer.upstream.close()
            self.slot.release()
            self.answer.record.finish(time.perf_counter())
            self.answer.record.save()
        finally:
            super().close()


def _unauthorized(message, code):
    headers = {"WWW-Authenticate": 'Bearer realm="console"', "x-should-retry": "false"}
    return replies.error(401, message, "authentication_error", code, headers=headers)


def _authenticate(request, generation):
    """(Caller, None) or (None, the refusal)."""
    scheme, _sep, raw = request.headers.get("Authorization", "").partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        return None, _unauthorized(
            _("No API key was sent. Send the header Authorization: Bearer followed by your key."), "missing_api_key"
        )
    caller = keys.lookup(raw, generation)
    if caller is None:
        return None, _unauthorized(
            _("This API key is not valid. Keys of this console start with %(prefix)s; create one on your account page.")
            % {"prefix": keys.KEY_PREFIX},
            "invalid_api_key",
        )
    if caller.revoked:
        return None, _unauthorized(_("This API key was revoked."), "api_key_revoked")
    if caller.expires_at is not None and caller.expires_at <= timezone.now():
        return None, _unauthorized(_("This API key has expired."), "api_key_expired")
    if not caller.owner_active:
        return None, _unauthorized(_("The owner of this API key is deactivated."), "owner_deactivated")
    if not caller.may_use:
        return None, replies.error(
            403,
            _("The owner of this API key may not use the models."),
            "permission_error",
            "permission_denied",
            headers={"x-should-retry": "false"},
        )
    return caller, None


def api_view(route, *methods):
    """Key check, method check and the per-minute limit, in the cheapest order; CSRF does not apply (no cookie
    is read: the key is the credential)."""

    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            started = getattr(request, "received_at", None) or time.perf_counter()
            generation = freshness.current()
            caller, refusal = _authenticate(request, generation)
            if refusal is not None:
                return refusal
            record = CallRecord(route, started, caller)
            if request.method not in methods:
                allowed = ", ".join(methods)
                return replies.error(
                    405,
                    _("Use %(method)s on this route.") % {"method": allowed},
                    "invalid_request_error",
                    "method_not_allowed",
                    record,
                    headers={"Allow": allowed},
                )
            try:
                counted = limits.take_request(caller)
            except limits.Limited as exc:
                response = replies.limited(exc)
                if exc.code != "too_many_streams":
                    limits.set_headers(response, limits.refused_headers(caller, exc.retry_after))
                return response
            response = view(request, caller, record, generation, *args, **kwargs)
            limits.set_headers(response, counted)
            dropped = getattr(record, "dropped", None)
            if dropped:  # the model is set to leave out what its upstream cannot carry: say what was
                response["X-Dropped-Params"] = ", ".join(dropped)
            return response

        return wrapper

    return decorate


@api_view("models", "GET")
def models(request, caller, record, generation):
    listed = catalog.entries(generation)
    items = catalog.router_items(listed, cached_only=False)
    data = [fmt.model_object(entry, catalog.features(entry, items)) for entry in listed]
    record.finish(time.perf_counter())
    return replies.RecordedResponse({"object": "list", "data": data}, record)


@api_view("models", "GET", "POST")
def model(request, caller, record, generation, model_id):
    """GET: the model (openai's models.retrieve). POST: a generation in TGI's own form, what huggingface_hub's
    text_generation sends to `InferenceClient(base_url=".../v1/models/<id>")`."""
    try:
        entry = catalog.find(model_id, generation)
    except catalog.Ambiguous as exc:
        return replies.bad_request(fmt.ambiguous(model_id, exc.ids), record)
    # Its API id, display name or repo id, as the other routes accept; not the placeholders that stand for the
    # only model.
    if entry is None or (model_id in catalog.PLACEHOLDER_NAMES and model_id not in (entry.api_id, entry.display_name)):
        return replies.model_not_found(model_id, record)
    if request.method == "POST":
        record.route = "tgi"
        if entry.task in EMBEDDING_TASKS:  # huggingface_hub's feature_extraction or sentence_similarity
            from providers.api import vectors  # imports this module: asked for here, once the two are loaded

            return vectors.hub_task(entry, request, record)
        return _generate(request, caller, record, generation, "tgi", entry)
    record.entry = entry
    features = catalog.features(entry, catalog.router_items([entry], cached_only=False))
    record.finish(time.perf_counter())
    return replies.RecordedResponse(fmt.model_object(entry, features), record)


@api_view("chat", "POST")
def chat_completions(request, caller, record, generation):
    return _generate(request, caller, record, generation, "chat")


@api_view("completions", "POST")
def completions(request, caller, record, generation):
    return _generate(request, caller, record, generation, "completions")


def chat_answer(request, caller, record, generation, body):
    """A chat completions call made of `body` (the Responses API's translation): the same checks, limits, upstream
    path and accounting as a call to /v1/chat/completions."""
    return _generate(request, caller, record, generation, "chat", body=body)


def _generate(request, caller, record, generation, route, entry=None, body=None):
    details = False
    try:
        body = fmt.parse_body(request.body) if body is None else body
        if route == "tgi":
            prompt, body, details = fmt.tgi_request(body)
            body["prompt"] = prompt
        else:
            name = body.get("model")
            try:
                entry = catalog.find(name, generation)
            except catalog.Ambiguous as exc:
                raise fmt.ambiguous(name, exc.ids) from None
            if entry is None:
                return replies.model_not_found(name if isinstance(name, str) else "", record)
        record.entry = entry
        if entry.task in EMBEDDING_TASKS:
            raise replies.not_generative(entry)
        if route == "chat" and not entry.is_chat:
            raise fmt.BadRequest(
                _("%(model)s is a text-generation model: send its prompts to /v1/completions.")
                % {"model": entry.api_id},
                param="model",
                code="model_not_chat",
            )
    except fmt.BadRequest as exc:
        if route == "tgi" and exc.param in fmt.TGI_NAMES:
            exc.param = fmt.TGI_NAMES[exc.param]  # the name the caller sent in TGI's body, not OpenAI's
        return replies.bad_request(exc, record)
    if entry.problem == catalog.UNEXPECTED:
        return replies.error(
            503,
            _("The console could not prepare this model for a call. Try again; if it persists, its log says why."),
            "service_unavailable",
            catalog.UNEXPECTED,
            record,
            headers={"x-should-retry": "true", **replies.retry_headers(5)},
        )
    if entry.problem:
        return replies.upstream_failure(HFError(entry.problem), record)
    deadline = transport.Deadline(settings.HF_GENERATION_TIMEOUT)
    try:
        target = catalog.target(entry, deadline)
    except HFError as exc:
        return replies.upstream_failure(exc, record)
    if route != "tgi" and hf_relay.applies(target, route):
        return _relay(caller, record, entry, target, route, body, deadline)
    try:
        if route != "tgi":
            body = relay.check_translated(body, route, entry, target, record)
        params = fmt.merged(entry.defaults, fmt.parameters(body, entry.task, target))
        stream, include_usage = fmt.stream_options(body)
        if route == "chat":
            inputs = {"messages": fmt.chat_messages(body)}
        elif entry.is_chat:  # a chat model on /v1/completions: the prompt is the user's one message
            inputs = {"messages": [{"role": "user", "content": fmt.completion_prompt(body)}]}
        else:
            inputs = {"prompt": fmt.completion_prompt(body)}
            params.setdefault("return_full_text", body.get("echo") is True)
    except fmt.BadRequest as exc:
        if route == "tgi" and exc.param in fmt.TGI_NAMES:
            exc.param = fmt.TGI_NAMES[exc.param]
        return replies.bad_request(exc, record)
    record.stream = stream
    slot = None
    if stream:
        try:
            slot = limits.open_stream(caller)
        except limits.Limited as exc:
            return replies.limited(exc)
    upstream = None
    accounting.track(record)  # from here a crash leaves the call to be swept, not lost
    try:
        release_connection()  # a thousand open streams hold no database connection while they wait
        # A whole answer has no one to send a heartbeat to while it waits: read in this greenlet, no pump.
        upstream = generate(target, params, stream=stream, deadline=deadline, heartbeats=stream, **inputs)
        first = relay.first_item(upstream, (str, adapters.Finish)) if stream else _first(upstream)
        answer = translated.Answer(route, entry, record, upstream, first, include_usage)
        answer.details, answer.target, answer.prompt_text = details, target, inputs.get("prompt")
        if not stream:
            return answer.whole()
        return EventStreamResponse(answer, slot)  # from here on its close() releases the slot
    except HFError as exc:
        if upstream is not None:
            upstream.close()
        if slot is not None:
            slot.release()
        return replies.upstream_failure(exc, record)
    except BaseException:
        # Anything else (a defect, a gone client, a worker shutting down): the slot stays held (a file's lock until
        # the process ends, a lease while the process renews it) unless released here.
        accounting.untrack(record)  # no longer in flight either
        if upstream is not None:
            upstream.close()
        if slot is not None:
            slot.release()
        raise


def _relay(caller, record, entry, target, route, body, deadline):
    """A call relayed as sent (api/relay.py): the upstream's answer passed on, whole or event by event."""
    try:
        sent, stream, include_usage = relay.prepare(body, route, entry, target, record)
    except fmt.BadRequest as exc:
        return replies.bad_request(exc, record)
    record.stream = stream
    answer_id = fmt.new_id(route)
    if not stream:
        accounting.track(record)  # from here a crash leaves the call to be swept, not lost
        try:
            release_connection()
            counts, whole = hf_relay.open_relay(target, route, sent, answer_id, deadline, False)
        except HFError as exc:
            return _relay_failure(exc, sent, record)
        except BaseException:
            accounting.untrack(record)
            raise
        usage.fill_relayed(target, route, sent, whole, counts)
        record.prompt_tokens, record.completion_tokens = counts.prompt_tokens, counts.completion_tokens
        record.finish(time.perf_counter())
        return replies.RecordedResponse(whole, record)
    try:
        slot = limits.open_stream(caller)
    except limits.Limited as exc:
        return replies.limited(exc)
    upstream = None
    accounting.track(record)
    try:
        release_connection()
        _counts, upstream = hf_relay.open_relay(target, route, sent, answer_id, deadline, include_usage)
        return EventStreamResponse(relay.Relayed(record, upstream, relay.first_item(upstream)), slot)
    except HFError as exc:
        if upstream is not None:
            upstream.close()
        slot.release()
        return _relay_failure(exc, sent, record)
    except BaseException:
        if upstream is not None:
            upstream.close()
        slot.release()
        accounting.untrack(record)
        raise


def _relay_failure(exc, sent, record):
    refused = hf_relay.refused_by_upstream(exc, sent)
    if refused is None:
        return replies.upstream_failure(exc, record)
    return replies.bad_request(
        fmt.BadRequest(refused.message, param=refused.param, code="unsupported_parameter"), record
    )


def _first(upstream):
    """The first text or Finish, skipping the idle markers generate() yields while the upstream is silent."""
    for item in upstream:
        if isinstance(item, (str, adapters.Finish)):
            return item
    raise HFError("connection_lost")


@csrf_exempt
def not_found(request, rest=""):
    return replies.error(
        404,
        _(
            "This console serves /v1/models, /v1/models/<id>, /v1/chat/completions, /v1/completions, /v1/responses, "
            "/v1/embeddings and /v1/rerank only."
        ),
        "invalid_request_error",
        "unknown_route",
        headers={"x-should-retry": "false"},
    )
