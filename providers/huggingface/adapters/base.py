"""What every adapter shares: the answer it reads (Finish), what an upstream can do (Capabilities), the bases of
an adapter and of its stream state, and the readers of the fields more than one protocol carries."""

import math
import re
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from providers.huggingface import numbers
from providers.huggingface.errors import HFError


@dataclass
class Finish:
    text: str
    finish_reason: str = ""
    generated_tokens: int | None = None  # as the server reported it; None when it did not
    server: dict = field(default_factory=dict)
    prompt_tokens: int | None = None  # when the server reports it (the API's usage)


@dataclass(frozen=True)
class Range:
    """Where an upstream accepts a parameter's value; an open end excludes its bound (TGI: 0 < top_p < 1)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value):
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)


@dataclass(frozen=True)
class Parameter:
    """A playground parameter as one upstream takes it: its name there, and its range when the engine has its own."""

    name: str
    range: Range | None = None


def parameters(names, ranges=None):
    """{playground name: Parameter} from {playground name: upstream name} and {playground name: Range}."""
    ranges = ranges or {}
    return {key: Parameter(name, ranges.get(key)) for key, name in names.items()}


@dataclass(frozen=True)
class Capabilities:
    """What the upstream behind one target can be asked (with a model that can do it: a vision model for images)."""

    chat: bool = False
    completion: bool = False
    streaming: bool = False
    tools: bool = False
    structured_output: bool = False
    image_input: bool = False
    logprobs: bool = False
    n: bool = False  # several choices in one answer
    embeddings: bool = False
    rerank: bool = False
    parameters: dict = field(default_factory=dict)  # {playground name: Parameter}
    # The OpenAI request fields (and engine extras) the upstream takes as sent, per route (adapters/fields.py).
    chat_fields: frozenset = frozenset()
    completion_fields: frozenset = frozenset()
    # Its answers are OpenAI's own shapes (vLLM, SGLang, llama.cpp, the router): relayed as they come, only
    # usage and the end read; TGI's Messages API and hf-inference's chat route need theirs rewritten (§13.7).
    openai_answers: bool = False
    label: str = ""  # who cannot do what a refusal names


class Adapter:
    """One wire protocol: where a generation goes, its body, and how its answers read. Stateless: one instance
    serves every target; a stream's state lives in a `stream_state(target)` object."""

    def capabilities(self, target):
        raise NotImplementedError

    def check_generates(self, target):
        """Raise HFError, before anything is sent, when this upstream cannot generate text."""

    def url(self, target):
        raise NotImplementedError

    def body(self, target, params, prompt="", messages=None, stream=False):
        raise NotImplementedError

    def parse_whole(self, body, target, server, response):
        """The Finish of a whole JSON answer (its text not yet cleaned)."""
        raise NotImplementedError

    def stream_state(self, target):
        raise NotImplementedError

    def retry_body(self, exc, target, body):
        """The body to send once more after `exc` (an HFError answered before any of the answer), or None."""
        return None

    # Embeddings and rerank (hf-protocol.md §16).
    def embed_request(self, target, texts, dimensions=None):
        """(url, body) asking for one vector per text; HFError when this upstream computes none."""
        raise cannot_compute("embeddings")

    def read_embeddings(self, body):
        """(vectors in the order of the texts, prompt tokens or None) from an answer."""
        raise NotImplementedError

    def raw_vectors(self, body, content):
        """The JSON text (bytes) of each vector in the answer `content` (parsed as `body`), in the texts' order,
        so that float vectors go on as the server wrote them instead of being printed again; None when they
        cannot be told apart for sure (the caller then prints the parsed numbers)."""
        return None

    def rerank_request(self, target, query, documents, top_n=None):
        """(url, body) asking for the documents' relevance to the query; HFError when this upstream cannot."""
        raise cannot_compute("rerank")

    def read_rerank(self, body):
        """([(document index, relevance score)] best first, prompt tokens or None) from an answer."""
        raise NotImplementedError


def cannot_compute(what):
    if what == "embeddings":
        return HFError("wrong_task", _("This server does not compute embeddings with the protocol configured here."))
    return HFError("wrong_task", _("This server does not rerank documents with the protocol configured here."))


_FLOATS = {float}
_NUMBERS = {float, int}


def vectors(values):
    """`values` as a list of vectors (lists of finite numbers), or HFError("bad_response").

    Checked in C loops (the types present, one sum), not per element in Python: 64 vectors of 384 numbers are
    24,576 elements, and a generator per element cost about 4 ms a call."""
    checked = []
    for value in values if isinstance(values, list) else [None]:
        kinds = set(map(type, value)) if isinstance(value, list) and value else None
        if not kinds or not kinds <= _NUMBERS or not _finite(value):
            raise HFError("bad_response", _("The embeddings answer is not one vector of numbers per input."))
        checked.append(value if kinds == _FLOATS else [float(x) for x in value])
    return checked


def _finite(numbers):
    """Whether every number is finite: a NaN or an infinity (JSON's NaN and Infinity parse in Python) makes the
    sum non-finite; so do numbers near the float limit, which no embedding has."""
    try:
        return math.isfinite(sum(numbers))
    except OverflowError:  # an integer beyond any float
        return False


class StreamState:
    """What one stream has said so far, and whether the protocol says it is complete. `event()` reads one event
    (a dict or anything JSON holds) and returns the texts it carries, in order."""

    def __init__(self, target):
        self.finish_reason = ""
        self.tokens = None
        self.prompt_tokens = None
        self.complete = False  # the protocol's last word: TGI's final event, or [DONE]
        self.finished = False  # a finish_reason: the text is whole, usage and [DONE] may follow

    def event(self, event):
        raise NotImplementedError


def not_an_object():
    return HFError("bad_response", _("A stream event is not an object."))


def stream_error(event):
    """The HFError of an error event: TGI's flat `{"error": "…", "error_type"}` or the OpenAI shape that chat
    streams (TGI's too), vLLM and llama.cpp send, `{"error": {"message", "code" or "http_status_code"}}`."""
    error = event.get("error")
    message = str(error.get("message") or "") if isinstance(error, dict) else str(error)
    error_type = event.get("error_type") or ""
    status = error.get("http_status_code") if isinstance(error, dict) else None
    if isinstance(error, dict) and status is None and isinstance(error.get("code"), int):
        status = error["code"]  # vLLM, llama.cpp
    if error_type == "validation" or status == 422 or "validation" in (message or "").lower():
        return HFError("input_rejected", message, http_status=status, upstream=True)
    if error_type == "overloaded":
        return HFError("rate_limited", message, http_status=status, upstream=True)
    return HFError("upstream_error", message, http_status=status, upstream=True)


def usage_of(body):
    usage = body.get("usage") if isinstance(body, dict) else None
    return usage if isinstance(usage, dict) else {}


def count(value):
    """A token count the server reported, or None (not reported; never guessed, and never beyond what a count
    can be: 10**30 from a broken server must not reach an integer column)."""
    return numbers.count(value) if isinstance(value, int) else None


def finish_name(reason):
    if not isinstance(reason, str):
        return ""
    return {"eos_token": "stop", "stop_sequence": "stop"}.get(reason, reason or "")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text):
    """Upstream text without lone UTF-16 surrogates (JSON allows "\\ud83d" alone; UTF-8 cannot carry it)."""
    if text.isascii():  # nearly every token: no surrogate possible, no regex pass
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)
