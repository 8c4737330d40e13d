"""An OpenAI request relayed to an OpenAI-compatible upstream as the caller sent it, and its answer back: the whole
JSON, or the stream's events as they came (adapters/openai_relay.py rewrites only what strays), within the
deadline, HF_READ_TIMEOUT between events and HF_MAX_ANSWER_BYTES, as generation.generate() reads its answers."""

import time
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

from providers.huggingface.adapters import adapter_for, openai, openai_relay
from providers.huggingface.errors import HFError
from providers.huggingface.generation import _open_generation, _read_inline, _read_whole
from providers.huggingface.reader import FINISH_GRACE, IDLE, Generation, Reader
from providers.huggingface.sse import DONE, LineTooLong, SSEParser
from providers.huggingface.transport import connection_failure, json_of, redact, too_large

__all__ = ["IDLE", "End", "applies", "open_relay", "open_whole", "refused_by_upstream", "request_body"]
refused_by_upstream = openai_relay.refused_by_upstream


@dataclass
class End:
    """The last item of a relayed stream: what the accounting needs."""

    finish_reason: str
    prompt_tokens: int | None
    completion_tokens: int | None


def applies(target, route):
    """Whether this call is relayed as sent: an OpenAI-compatible upstream answering the route itself (a chat
    model on /v1/completions, TGI's own routes and the hosted pipelines are translated instead)."""
    if adapter_for(target) is not openai.ADAPTER:
        return False
    return route == "chat" if target.task == "chat" else (route == "completions" and target.openai_style)


def request_body(target, route, sent, defaults, dropped=None):
    """The upstream's body (fields.Refused for a field it cannot carry; with `dropped`, a list, OpenAI's fields it
    cannot carry are left out and named there instead)."""
    adapter = adapter_for(target)
    names = openai.PARAMETERS.get(target.engine, openai.CHAT_PARAMETERS)
    return openai_relay.body(adapter, target, route, dict(sent), defaults, names, dropped)


def open_relay(target, route, body, answer_id, deadline, wants_usage):
    """(the normaliser, the whole answer as a dict) for a whole answer; (the normaliser, a Generation of IDLE,
    SSE bytes and at last End) for a stream. Raises HFError before anything is sent back."""
    adapter = adapter_for(target)
    rewrite = not adapter.capabilities(target).openai_answers
    answer = openai_relay.Answer(route, answer_id, rewrite, wants_usage)
    if not body.get("stream"):
        try:
            response = _open_generation(adapter, target, body, deadline)
        except HFError:
            raise
        except Exception as exc:
            raise connection_failure(exc) from None
        try:
            response._content = _drain(_read_inline(response, deadline))
            response._content_consumed = True
            return answer, answer.whole(json_of(response))
        finally:
            response.close()
    reader = Reader(lambda: _open_generation(adapter, target, body, deadline), deadline, straight=True)
    return answer, Generation(reader, _relayed(reader, answer, deadline), joins=False)


def open_whole(target, route, body, answer_id, deadline, wants_usage):
    """(the normaliser, a Generation of IDLE while the upstream is silent, then the whole answer as a dict) for a
    whole answer read in a reader, as generate() reads one: a caller with a person waiting (the playground) can
    say each second what it waits for, an endpoint's waking included. The request leaves at once."""
    adapter = adapter_for(target)
    answer = openai_relay.Answer(route, answer_id, not adapter.capabilities(target).openai_answers, wants_usage)
    reader = Reader(lambda: _open_generation(adapter, target, body, deadline), deadline)
    return answer, Generation(reader, _whole(reader, answer, deadline))


def _whole(reader, answer, deadline):
    try:
        kind, response = yield from reader.take(deadline)
        if kind == "error":
            raise response
        content = yield from _read_whole(reader, deadline)
        response._content, response._content_consumed = content, True
        yield answer.whole(json_of(response))
    finally:
        reader.stop()


def _drain(reading):
    """_read_inline's bytes; the partial text it yields before a size failure is of no use to a relay."""
    try:
        while True:
            next(reading)
    except StopIteration as done:
        return done.value


def _relayed(reader, answer, deadline):
    try:
        kind, response = yield from reader.take(deadline)
        if kind == "error":
            raise response
        if "text/event-stream" not in response.headers.get("Content-Type", ""):
            raise HFError("bad_response", _("The server answered a stream request with a whole answer."))
        try:
            yield from _events(reader, answer, deadline)
        except HFError as exc:
            message = redact(exc.message, response)  # an error event's text is the upstream's too
            raise HFError(exc.category, message, exc.http_status, upstream=exc.upstream) from None
        yield End(answer.finish_reason, answer.prompt_tokens, answer.completion_tokens)
    finally:
        reader.stop()


def _events(reader, answer, deadline):
    limit = settings.HF_MAX_ANSWER_BYTES
    parser = SSEParser(limit + 65536)
    size, complete, grace_until = 0, False, None
    last_data = time.monotonic()
    while not complete:
        item = reader.next_event(deadline, last_data, grace_until)
        if item is IDLE:
            yield IDLE
            continue
        kind, value = item
        if answer.finished and kind in ("grace", "end", "error"):
            break  # a finish reason came, then the stream ended without [DONE] or went quiet
        if kind == "error":
            raise value if value.category != "connection_lost" else _cut(size)
        if kind == "end":
            raise _cut(size)
        data = None if parser.buffer else answer.passed(value)
        if data is not None:  # whole plain events with nothing to rewrite (nearly every read): on as they came
            size += len(data)
            if size > limit:
                raise too_large()
            last_data = reader.signalled = time.monotonic()
            yield data
            continue
        try:
            payloads = parser.feed_bytes(value)
        except LineTooLong:
            raise too_large() from None
        if payloads:
            last_data = time.monotonic()
        out, failure = [], None
        for payload in payloads:
            if payload is DONE:
                complete = True
                break
            try:
                out.append(answer.event(payload))
            except HFError as exc:
                failure = exc  # after the events before it, as they came
                break
        data = b"".join(out)
        size += len(data)
        if size > limit:
            raise too_large()
        if data:
            reader.signalled = time.monotonic()
            yield data
        if failure is not None:
            raise failure
        if answer.finished and grace_until is None:
            grace_until = time.monotonic() + FINISH_GRACE
        yield from reader.quiet()
    tail = answer.close()
    if tail:
        yield tail


def _cut(size):
    if size:
        return HFError("connection_lost", _("The server closed the stream without its final event."))
    return HFError("connection_lost", _("The server closed the stream before any text and without its final event."))
