"""A generation: where it goes (Target), its request, and the reading of its answer, whole or streamed, within the
deadline and HF_MAX_ANSWER_BYTES. Everything a dialect decides is asked of the target's adapter."""

import json
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

from providers.huggingface import engines
from providers.huggingface.adapters import Finish, adapter_for
from providers.huggingface.adapters.base import clean_text
from providers.huggingface.errors import HFError
from providers.huggingface.reader import FINISH_GRACE, Generation, Reader
from providers.huggingface.sse import DONE, LineTooLong, SSEParser
from providers.huggingface.transport import (
    READ_SIZE,
    Deadline,
    call,
    connection_failure,
    json_of,
    mark_server,
    redact,
    socket_of,
    timeout_error,
    too_large,
)


@dataclass
class Target:
    """Where and how to send a generation: built from a configured model (or the form's values)."""

    endpoint_type: str
    task: str
    repo_id: str = ""
    endpoint_url: str = ""
    token: str = ""
    scale_up_timeout: int = 0  # seconds a request may spend waking a scaled-to-zero endpoint (huggingface/waking.py)
    engine: str = ""  # engines.* once detected; "" speaks TGI, as before engines were told apart
    served_model: str = ""  # the model id the server announced (OpenAI-compatible servers need it)
    provider: str = ""  # Inference Providers' embeddings: the provider chosen (provider_routes.py)

    @property
    def openai_style(self):
        """An endpoint spoken to through /v1/completions and /v1/chat/completions only."""
        return self.endpoint_type == "inference_endpoint" and self.engine in engines.OPENAI_COMPATIBLE

    @property
    def kind(self):
        return (
            "endpoint"
            if self.endpoint_type == "inference_endpoint"
            else ("router" if self.endpoint_type == "inference_providers" else "hosted")
        )

    def url(self):
        return adapter_for(self).url(self)

    def headers(self):
        """The request's headers; transport.call() takes X-Scale-Up-Timeout out of the first request (see waking)."""
        return {"X-Scale-Up-Timeout": str(self.scale_up_timeout)} if self.scale_up_timeout else {}


def _open_generation(adapter, target, body, deadline):
    """The response to a generation request (headers read, body not), with the adapter's one safe retry."""
    try:
        return call("POST", adapter.url(target), target.kind, target.token, body, target.headers(), deadline, True)
    except HFError as exc:
        retry = adapter.retry_body(exc, target, body)
        if retry is None:
            raise
        return call("POST", adapter.url(target), target.kind, target.token, retry, target.headers(), deadline, True)


def generate(target, params, prompt="", messages=None, stream=False, deadline=None, heartbeats=True):
    """Yield text chunks (str) as they arrive, then one Finish; IDLE while the upstream is silent (at least once a
    second, so the caller can stop). Raises HFError, also mid-stream; a stream is complete only when the protocol
    says so. The deadline bounds the whole operation. Closing the generator closes the upstream connection.

    With heartbeats (the default, and every stream) the request leaves at once, in its reader: the caller may do
    its own work while the upstream thinks (the playground writes its run then) and take the first item after.
    A bad target or parameters raise HFError here, before anything is sent.

    heartbeats=False (whole answers only): for a caller that has nothing to do while it waits (the API's whole
    answers), the answer is read in the calling thread, without the helper thread and its queue, and no IDLE comes
    (unless the upstream answers with a stream after all, which is then read as any stream).
    """
    adapter = adapter_for(target)
    adapter.check_generates(target)
    body = adapter.body(target, params, prompt, messages, stream)
    deadline = deadline or Deadline(settings.HF_GENERATION_TIMEOUT)
    if heartbeats or stream:
        reader = Reader(lambda: _open_generation(adapter, target, body, deadline), deadline)
        return Generation(reader, _pumped(reader, adapter, target, deadline))
    return _inline(adapter, target, body, deadline)


def _inline(adapter, target, body, deadline):
    try:
        response = _open_generation(adapter, target, body, deadline)
    except HFError:
        raise
    except Exception as exc:
        raise connection_failure(exc) from None
    if "text/event-stream" not in response.headers.get("Content-Type", ""):
        yield from _whole_inline(response, adapter, target, deadline)
        return
    reader = Reader(lambda: response, deadline)  # a stream after all: read as any other stream
    yield from _pumped(reader, adapter, target, deadline)


def _pumped(reader, adapter, target, deadline):
    try:
        kind, response = yield from reader.take(deadline)
        if kind == "error":
            raise response
        server = _server_headers(response)
        if "text/event-stream" in response.headers.get("Content-Type", ""):
            try:
                yield from _read_stream(reader, adapter, target, server, deadline)
            except HFError as exc:
                if redact(exc.message, response) != exc.message:  # an error event's text is the upstream's too
                    exc = HFError(exc.category, redact(exc.message, response), exc.http_status, upstream=exc.upstream)
                raise mark_server(exc, response.url or "", target.kind) from None
        else:
            response._content = yield from _read_whole(reader, deadline)
            response._content_consumed = True
            finish = adapter.parse_whole(json_of(response), target, server, response)
            finish.text = clean_text(finish.text)
            if finish.text:
                yield finish.text
            yield finish
    finally:
        reader.stop()


def _server_headers(response):
    return {k: v for k, v in response.headers.items() if k.lower().startswith("x-") and k.lower() != "x-request-id"}


def _whole_inline(response, adapter, target, deadline):
    """A whole answer read in the calling thread: each read waits at most what the deadline leaves (and the read
    timeout), so a silent or dripping upstream still ends at the deadline; the size limit holds as in _read_whole.
    An answer not read to its end (a failure, a caller that closed the generator) closes its connection."""
    try:
        response._content = yield from _read_inline(response, deadline)
        response._content_consumed = True
        finish = adapter.parse_whole(json_of(response), target, _server_headers(response), response)
    finally:
        response.close()
    finish.text = clean_text(finish.text)
    if finish.text:
        yield finish.text
    yield finish


def _read_inline(response, deadline):
    chunks, size = [], 0
    sock = socket_of(response)
    while True:
        left = deadline.left()
        if left <= 0:
            raise timeout_error(deadline)
        if sock is not None:
            sock.settimeout(min(settings.HF_READ_TIMEOUT, left))
        try:
            value = response.raw.read1(READ_SIZE, decode_content=True)
        except Exception as exc:
            if deadline.left() <= 0:
                raise timeout_error(deadline) from None
            raise connection_failure(exc) from None
        if not value:
            return b"".join(chunks)
        size += len(value)
        if size > settings.HF_MAX_ANSWER_BYTES:
            yield from _over_limit(chunks, value, size)
        chunks.append(value)


def _over_limit(chunks, value, size):
    """A whole answer past HF_MAX_ANSWER_BYTES: yield the text of what fit (it is kept), then fail."""
    room = len(value) - (size - settings.HF_MAX_ANSWER_BYTES)
    partial = _partial_text(b"".join(chunks) + value[:room])
    if partial:
        yield partial
    raise too_large()


def _read_whole(reader, deadline):
    chunks, size = [], 0
    while True:
        kind, value = yield from reader.take(deadline)
        if kind == "error":
            raise value
        if kind == "end":
            return b"".join(chunks)
        size += len(value)
        if size > settings.HF_MAX_ANSWER_BYTES:
            yield from _over_limit(chunks, value, size)
        chunks.append(value)
        yield from reader.quiet()


_TEXT_START = re.compile(rb'"(?:generated_text|content)"\s*:\s*"')


def _partial_text(raw):
    """The text of a whole JSON answer cut short: the generated_text (or message content) up to the cut."""
    start = _TEXT_START.search(raw)
    if not start:
        return ""
    rest = raw[start.end() :].decode("utf-8", errors="ignore")
    for trim in range(0, 7):  # a cut may fall inside an escape such as \u00e9
        try:
            return json.loads('"' + rest[: len(rest) - trim] + '"')
        except ValueError:
            continue
    return ""


class _Kept:
    """The text of one stream handed on so far, within HF_MAX_ANSWER_BYTES."""

    def __init__(self):
        self.parts = []
        self.size = 0

    def take(self, text):
        """(the part of `text` that fits the size limit, whether the limit was reached)."""
        room = settings.HF_MAX_ANSWER_BYTES - self.size
        text = clean_text(text)
        encoded = text.encode("utf-8")
        if len(encoded) > room:
            return encoded[:room].decode("utf-8", errors="ignore"), True
        self.size += len(encoded)
        return text, False

    def cut(self, cause=None):
        """The failure for a stream that ended before the protocol said it was complete."""
        count = len(self.parts)
        if cause is not None and cause.category != "connection_lost":
            return cause
        if count:
            message = _(
                "The server closed the stream after %(count)s chunks of text without its final event: "
                "the answer is incomplete."
            ) % {"count": count}
        else:
            message = _("The server closed the stream before any text and without its final event.")
        return HFError("connection_lost", message)


def _texts(events, state, kept):
    """The texts of one read's events, in order, updating the stream's state (complete, finish, counts)."""
    for data in events:
        if data is DONE:
            state.complete = True
            return
        try:
            event = json.loads(data)
        except ValueError:
            message = _("A stream event is not JSON: %(data)s") % {"data": data[:100]}
            raise HFError("bad_response", message, upstream=True) from None
        for text in state.event(event):
            fitting, over = kept.take(text)
            if fitting:
                kept.parts.append(fitting)
                yield fitting
            if over:
                raise too_large()
        if state.complete:
            return


def _read_stream(reader, adapter, target, server, deadline):
    state = adapter.stream_state(target)
    kept = _Kept()
    parser = SSEParser(settings.HF_MAX_ANSWER_BYTES + 65536)
    grace_until = None
    last_data = time.monotonic()
    while not state.complete:
        kind, value = yield from reader.take_event(deadline, last_data, grace_until)
        if state.finished and kind in ("grace", "end", "error"):
            break  # a finish_reason came and then the stream ended (old TGI sends no [DONE]) or went quiet
        if kind == "error":
            raise kept.cut(value)
        if kind == "end":
            raise kept.cut()
        try:
            events = parser.feed(value)
        except LineTooLong:
            raise too_large() from None
        texts, failure = [], None
        try:
            for text in _texts(events, state, kept):
                texts.append(text)
        except HFError as exc:
            failure = exc  # after the texts before it, as they came
        # Handed over once the whole read is parsed, so that `backlog` says truthfully whether the next item is
        # already here: Generation.joined() then writes them all at once for a caller behind the upstream.
        for index, text in enumerate(texts):
            reader.backlog = index + 1 < len(texts)
            reader.signalled = time.monotonic()
            yield text
        reader.backlog = False
        if failure is not None:
            raise failure
        if state.finished and grace_until is None:
            grace_until = time.monotonic() + FINISH_GRACE
        yield from reader.quiet()
        if events:  # counted from here: the time the caller took with what came (a stalled browser) is not silence
            last_data = time.monotonic()
    yield Finish("".join(kept.parts), state.finish_reason, state.tokens, server, state.prompt_tokens)
