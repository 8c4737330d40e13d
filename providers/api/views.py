"""The OpenAI-compatible routes under /v1/: a key instead of a session, JSON in, JSON or SSE out.

Once warm, a call costs one query (the freshness number) before the upstream is called: the key, its owner's
permission, the model and its decrypted token come from the process's cache. The call's record is written in
the response's close(), after the answer has been handed to the server.
"""

import functools
import time

from django.conf import settings
from django.http import JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from providers.api import accounting, catalog, keys, limits, relay, usage
from providers.api import openai_format as fmt
from providers.api.accounting import CallRecord
from providers.core import freshness, shutdown
from providers.core.db import release_connection
from providers.huggingface import adapters, transport
from providers.huggingface import relay as hf_relay
from providers.huggingface.errors import HFError
from providers.huggingface.generation import generate
from providers.models import EMBEDDING_TASKS


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

    def close(self):
        try:
            self.events.close()
            self.answer.upstream.close()
            self.slot.release()
            self.answer.record.finish(time.perf_counter())
            self.answer.record.save()
        finally:
            super().close()


def error(status, message, error_type, code, record=None, param=None, headers=None, **extra):
    if record is not None:
        record.status, record.category = status, record.category or code or ""
        record.finish(time.perf_counter())
    return RecordedResponse(fmt.error_body(message, error_type, code, param, **extra), record, status, headers)


def _retry_headers(seconds):
    return {"Retry-After": str(int(seconds)), "retry-after-ms": str(int(seconds * 1000))}


def _unauthorized(message, code):
    headers = {"WWW-Authenticate": 'Bearer realm="console"', "x-should-retry": "false"}
    return error(401, message, "authentication_error", code, headers=headers)


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
        return None, error(
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
                return error(
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
                response = _limited(exc)
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


def _limited(exc):
    """A 429 of the console's own limits. Not recorded as a call (a script hammering a limit must not fill the
    table): Django's log line per refused request is its trace."""
    if exc.code == "too_many_streams":
        message = _("This key already holds as many open streams as it may; wait for one to end.")
    else:
        message = _("This key made more requests this minute than it may; wait %(seconds)s s.") % {
            "seconds": exc.retry_after
        }
    return error(429, message, "rate_limit_error", exc.code, headers=_retry_headers(exc.retry_after))


@api_view("models", "GET")
def models(request, caller, record, generation):
    listed = catalog.entries(generation)
    items = catalog.router_items(listed, cached_only=False)
    data = [fmt.model_object(entry, catalog.features(entry, items)) for entry in listed]
    record.finish(time.perf_counter())
    return RecordedResponse({"object": "list", "data": data}, record)


def _model_not_found(name, record):
    return error(
        404,
        _("The model %(model)s does not exist or is not enabled; GET /v1/models lists the ones you may use.")
        % {"model": name},
        "invalid_request_error",
        "model_not_found",
        record,
        param="model",
    )


@api_view("models", "GET", "POST")
def model(request, caller, record, generation, model_id):
    """GET: the model (openai's models.retrieve). POST: a generation in TGI's own form, what huggingface_hub's
    text_generation sends to `InferenceClient(base_url=".../v1/models/<id>")`."""
    try:
        entry = catalog.find(model_id, generation)
    except catalog.Ambiguous as exc:
        return _bad_request(fmt.ambiguous(model_id, exc.ids), record)
    # Its API id, display name or repo id, as the other routes accept; not the placeholders that stand for the
    # only model.
    if entry is None or (model_id in catalog.PLACEHOLDER_NAMES and model_id not in (entry.api_id, entry.display_name)):
        return _model_not_found(model_id, record)
    if request.method == "POST":
        record.route = "tgi"
        if entry.task in EMBEDDING_TASKS:  # huggingface_hub's feature_extraction or sentence_similarity
            from providers.api import vectors  # imports this module: asked for here, once the two are loaded

            return vectors.hub_task(entry, request, record)
        return _generate(request, caller, record, generation, "tgi", entry)
    record.entry = entry
    features = catalog.features(entry, catalog.router_items([entry], cached_only=False))
    record.finish(time.perf_counter())
    return RecordedResponse(fmt.model_object(entry, features), record)


@api_view("chat", "POST")
def chat_completions(request, caller, record, generation):
    return _generate(request, caller, record, generation, "chat")


@api_view("completions", "POST")
def completions(request, caller, record, generation):
    return _generate(request, caller, record, generation, "completions")


def _not_generative(entry):
    route = "/v1/embeddings" if entry.task == "feature-extraction" else "/v1/rerank"
    return fmt.BadRequest(
        _("%(model)s computes embeddings or rerank scores and does not generate text: send its requests to %(route)s.")
        % {"model": entry.api_id, "route": route},
        param="model",
        code="model_not_generative",
    )


def _bad_request(exc, record):
    return error(400, exc.message, "invalid_request_error", exc.code or "invalid_request", record, param=exc.param)


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
                return _model_not_found(name if isinstance(name, str) else "", record)
        record.entry = entry
        if entry.task in EMBEDDING_TASKS:
            raise _not_generative(entry)
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
        return _bad_request(exc, record)
    if entry.problem == catalog.UNEXPECTED:
        return error(
            503,
            _("The console could not prepare this model for a call. Try again; if it persists, its log says why."),
            "service_unavailable",
            catalog.UNEXPECTED,
            record,
            headers={"x-should-retry": "true", **_retry_headers(5)},
        )
    if entry.problem:
        return _upstream_failure(HFError(entry.problem), record)
    deadline = transport.Deadline(settings.HF_GENERATION_TIMEOUT)
    try:
        target = catalog.target(entry, deadline)
    except HFError as exc:
        return _upstream_failure(exc, record)
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
        return _bad_request(exc, record)
    record.stream = stream
    slot = None
    if stream:
        try:
            slot = limits.open_stream(caller)
        except limits.Limited as exc:
            return _limited(exc)
    upstream = None
    accounting.track(record)  # from here a crash leaves the call to be swept, not lost
    try:
        release_connection()  # a thousand open streams hold no database connection while they wait
        # A whole answer has no one to send a heartbeat to while it waits: read in this greenlet, no pump.
        upstream = generate(target, params, stream=stream, deadline=deadline, heartbeats=stream, **inputs)
        first = relay.first_item(upstream, (str, adapters.Finish)) if stream else _first(upstream)
        answer = Answer(route, entry, record, upstream, first, include_usage)
        answer.details, answer.target, answer.prompt_text = details, target, inputs.get("prompt")
        if not stream:
            return answer.whole()
        return EventStreamResponse(answer, slot)  # from here on its close() releases the slot
    except HFError as exc:
        if upstream is not None:
            upstream.close()
        if slot is not None:
            slot.release()
        return _upstream_failure(exc, record)
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
        return _bad_request(exc, record)
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
        return RecordedResponse(whole, record)
    try:
        slot = limits.open_stream(caller)
    except limits.Limited as exc:
        return _limited(exc)
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
        return _upstream_failure(exc, record)
    return _bad_request(fmt.BadRequest(refused.message, param=refused.param, code="unsupported_parameter"), record)


def _first(upstream):
    """The first text or Finish, skipping the idle markers generate() yields while the upstream is silent."""
    for item in upstream:
        if isinstance(item, (str, adapters.Finish)):
            return item
    raise HFError("connection_lost")


def _shown(exc, record):
    """upstream_error(exc) as the key's owner may read it, with the advice for the model's endpoint type."""
    target = record.entry.target if record.entry is not None else None
    detail = record.caller is not None and record.caller.owner_is_admin
    return fmt.upstream_error(exc, detail, target.endpoint_type if target is not None else "")


def _upstream_failure(exc, record):
    status, body, retryable, retry_after = _shown(exc, record)
    headers = {"x-should-retry": "true" if retryable else "false"}
    if retry_after is not None and retryable:
        headers.update(_retry_headers(max(1, min(60, retry_after))))
    record.status, record.category = status, exc.category
    record.finish(time.perf_counter())
    return RecordedResponse(body, record, status, headers)


class Answer:
    """Turns generate()'s items into OpenAI's answer, whole or as SSE events, measuring as it goes."""

    def __init__(self, route, entry, record, upstream, first, include_usage):
        self.route, self.entry, self.record = route, entry, record
        self.upstream, self.first, self.include_usage = upstream, first, include_usage
        self.id = fmt.new_id(route)
        self.details = False  # TGI form only: whether the caller asked for the details object
        self.target = self.prompt_text = None  # for the counts the upstream did not report
        self.parts = []
        self.finish = None
        self.token_chunk = fmt.TokenChunks(route, self.id, entry.api_id, include_usage)

    def _take(self, item):
        if isinstance(item, str):
            if not self.parts and self.record.ttft_ms is None:
                self.record.ttft_ms = round((time.perf_counter() - self.record.started) * 1000, 1)
            self.parts.append(item)
            self.record.sent += 1
        elif isinstance(item, adapters.Finish):
            self.finish = item

    def _tokens(self):
        finish = self.finish
        # The upstream's counts, kept only when they are counts (a string or an object would break the sums).
        completion = fmt.count(finish.generated_tokens) if finish else None
        prompt = fmt.count(getattr(finish, "prompt_tokens", None)) if finish else None
        if (prompt is None or completion is None) and self.target is not None:
            prompt, completion, _counted = usage.fill(self.target, self.prompt_text, [self._text()], prompt, completion)
        self.record.prompt_tokens, self.record.completion_tokens = prompt, completion
        return prompt, completion

    def _text(self):
        return "".join(self.parts) or (self.finish.text if self.finish else "")

    def whole(self):
        record = self.record
        try:
            self._take(self.first)
            for item in self.upstream:
                self._take(item)
        except HFError as exc:
            return _upstream_failure(exc, record)
        finally:
            self.upstream.close()
        record.ttft_ms = None  # a whole answer has no first token to time
        reason = self.finish.finish_reason if self.finish else ""
        if self.route == "tgi":
            body = fmt.tgi_whole(self._text(), reason, self._tokens(), self.details)
            record.finish(time.perf_counter())
            return RecordedResponse(body, record, safe=False)
        body = fmt.whole(self.route, self.id, self.entry.api_id, self._text(), reason, self._tokens())
        record.finish(time.perf_counter())
        return RecordedResponse(body, record)

    def _sse(self, text=None, reason=None, first=False):
        if self.route == "tgi":
            return fmt.sse(fmt.tgi_token(len(self.parts), text))
        if text and reason is None and not first:
            return self.token_chunk(text)  # the hot path of a stream
        return fmt.sse(
            fmt.chunk(self.route, self.id, self.entry.api_id, text, reason, first, include_usage=self.include_usage)
        )

    def events(self):
        record = self.record
        item, started = self.first, False
        try:
            while True:
                if shutdown.streams_must_end():
                    raise HFError(
                        "run_interrupted",
                        _("The console is restarting, so this stream was ended. Send the request again."),
                    )
                if isinstance(item, adapters.Finish):
                    self._take(item)
                    break
                if isinstance(item, str):
                    self._take(item)
                    yield self._sse(item, first=not started)
                    started = True
                else:
                    yield fmt.HEARTBEAT  # the upstream is silent: an SSE comment keeps proxies from timing out
                item = next(self.upstream)
        except StopIteration:
            record.category = "connection_lost"
            yield from self._stream_error(HFError("connection_lost"))
            return
        except HFError as exc:
            record.category = exc.category
            yield from self._stream_error(exc)
            return
        except GeneratorExit:
            record.category = "client_closed"
            raise
        finally:
            self.upstream.close()
            record.finish(time.perf_counter())
        tokens = self._tokens()
        if self.route == "tgi":
            yield fmt.sse(fmt.tgi_last(len(self.parts), self._text(), self.finish.finish_reason, tokens))
            return
        if not started and self.route == "chat":
            yield self._sse("", first=True)
        yield self._sse(reason=fmt.finish_reason(self.finish.finish_reason))
        if self.include_usage and fmt.usage(*tokens):  # no usage chunk of unknown counts
            yield fmt.sse(fmt.usage_chunk(self.route, self.id, self.entry.api_id, tokens))
        yield fmt.DONE

    def _stream_error(self, exc):
        body = _shown(exc, self.record)[1]
        if self.route == "tgi":  # TGI's own form, which huggingface_hub turns into its typed errors
            yield fmt.sse({"error": body["error"]["message"], "error_type": "generation"})
            return
        yield fmt.sse(body)
        yield fmt.DONE


@csrf_exempt
def not_found(request, rest=""):
    return error(
        404,
        _(
            "This console serves /v1/models, /v1/models/<id>, /v1/chat/completions, /v1/completions, /v1/responses, "
            "/v1/embeddings and /v1/rerank only."
        ),
        "invalid_request_error",
        "unknown_route",
        headers={"x-should-retry": "false"},
    )
