"""The caller's OpenAI request relayed to an OpenAI-compatible upstream, and its answer relayed back: the body as
sent with the upstream's model id (TGI's Messages API gets its own dialect of tools and response_format), the
answer as it came, rewritten only where an upstream strays from OpenAI's shapes (hf-protocol.md §13.7, §14.2, §18)."""

import json
import time
import uuid

from django.utils.translation import gettext as _

from providers.huggingface import engines
from providers.huggingface.adapters import fields
from providers.huggingface.adapters.base import clean_text, count, finish_name, not_an_object, stream_error
from providers.huggingface.errors import HFError

DEFAULT_COMPLETION_TOKENS = 256
USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")


def body(adapter, target, route, sent, defaults, names, dropped=None):
    """The upstream's body: the fields it takes as sent (Refused for one it cannot), the model's defaults under
    them, `model` the upstream's own id, and usage asked for on streams (the console counts every call)."""
    capabilities = adapter.capabilities(target)
    accepted = capabilities.chat_fields if route == "chat" else capabilities.completion_fields
    kept = fields.carried(route, sent, accepted, str(capabilities.label), dropped)
    if kept.get("max_completion_tokens") is not None and target.engine != engines.VLLM:
        # The newer name; the other servers read max_tokens (TGI ignores a field it does not know).
        kept.setdefault("max_tokens", kept["max_completion_tokens"])
        del kept["max_completion_tokens"]
    for key, value in defaults.items():
        name = names.get(key)
        if name and name not in kept and not (name == "max_tokens" and "max_completion_tokens" in kept):
            kept[name] = value
    if isinstance(kept.get("messages"), list) and any(_is_developer(m) for m in kept["messages"]):
        # OpenAI's newer name for the system role, which open models' chat templates do not know.
        kept["messages"] = [{**m, "role": "system"} if _is_developer(m) else m for m in kept["messages"]]
    if kept.get("top_p") == 0 and not isinstance(kept["top_p"], bool):
        # OpenAI's top_p 0 is greedy decoding; TGI (0 < top_p < 1) and vLLM (0 < top_p <= 1) refuse the value,
        # and every server here reads temperature 0 as greedy.
        del kept["top_p"]
        kept["temperature"] = 0
    if target.engine == engines.LLAMACPP:
        _llamacpp_dialect(kept)
    if route != "chat":
        # vLLM's /v1/completions stops at 16 tokens when max_tokens is absent; TGI would go on much further.
        kept.setdefault("max_tokens", DEFAULT_COMPLETION_TOKENS)
    kept["model"] = target.served_model or target.repo_id or ("tgi" if not target.openai_style else "default")
    if kept.get("stream"):
        kept["stream_options"] = {**(kept.get("stream_options") or {}), "include_usage": True}
    else:
        kept.pop("stream_options", None)
    if not capabilities.openai_answers and target.endpoint_type == "inference_endpoint":
        _tgi_dialect(kept)
    return kept


def _llamacpp_dialect(body):
    """What llama-server reads under other names. Its `tool_choice` is a string only: an object naming a function is
    taken as "auto" with a warning in its log (json_value() in tools/server/server-common.h), so the call would not
    be forced. "required" with that function the only tool is the same request in words it reads."""
    if "repetition_penalty" in body:
        body.setdefault("repeat_penalty", body.pop("repetition_penalty"))
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and isinstance(body.get("tools"), list):
        name = (choice.get("function") or {}).get("name")
        body["tools"] = [t for t in body["tools"] if (t.get("function") or {}).get("name") == name]
        body["tool_choice"] = "required"


def _is_developer(message):
    return isinstance(message, dict) and message.get("role") == "developer"


def _tgi_dialect(body):
    """OpenAI's tools and response_format as TGI's Messages API reads them (§13.2, §14.2)."""
    body.pop("parallel_tool_calls", None)  # TGI makes one call at most: within either answer
    response_format = body.get("response_format")
    if response_format is not None:
        if body.get("tools"):
            raise fields.Refused(
                "response_format", _("TGI cannot constrain the answer to a schema and offer tools in one request.")
            )
        body["response_format"] = _tgi_grammar(response_format)
    for message in body.get("messages") or []:
        if isinstance(message, dict) and message.get("tool_calls"):
            message["content"] = None  # with "" TGI reads the message as text and loses the calls
            message["tool_calls"] = [_call_with_object_arguments(call) for call in message["tool_calls"]]


def _tgi_grammar(response_format):
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json", "value": {"type": "object", "properties": {}}}
    if kind in ("json", "regex") and "value" in response_format:
        return response_format  # already TGI's form (huggingface_hub sends it)
    spec = response_format.get("json_schema") if kind == "json_schema" else None
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        raise fields.Refused(
            "response_format",
            _("TGI constrains answers to JSON schemas of an object with properties only; this one has none."),
        )
    return {"type": "json", "value": schema}


def _call_with_object_arguments(call):
    """TGI re-encodes string arguments as a string of a string (§13.2): history gets them as an object."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
        return call
    try:
        arguments = json.loads(function["arguments"])
    except ValueError:
        return call
    return {**call, "function": {**function, "arguments": arguments}}


# What servers answer when they were started without tool calling or grammars (§13.3, §13.5, §14.7): the text
# that says so -> the field it is about. Agent clients match none of these; a 400 naming the field they can.
_CANNOT = (
    ("requires --enable-auto-tool-choice", "tools"),
    ("tools param requires --jinja", "tools"),
    ("unsupported param: tool_choice", "tool_choice"),
    ("grammar is not supported", None),  # TGI: tools and response_format both go through its grammar
)


def refused_by_upstream(exc, sent):
    """fields.Refused when an upstream's failure says it cannot do a field of the request, else None."""
    text = (exc.message or "").lower()
    for words, param in _CANNOT:
        if words in text:
            param = param or ("tools" if sent.get("tools") else "response_format")
            if param in sent:
                message = _("The server cannot do %(name)s as it is set up; it answered: %(answer)s")
                return fields.Refused(param, message % {"name": param, "answer": exc.message[:300]})
    return None


def new_call_id():
    return "call_" + uuid.uuid4().hex[:24]


def _clean_usage(usage):
    """Counts that are whole numbers; None when none is (the AI SDK refuses null counts, §18.2)."""
    if not isinstance(usage, dict):
        return None
    cleaned = {k: v for k, v in usage.items() if k not in USAGE_FIELDS or count(v) is not None}
    if not any(count(cleaned.get(k)) is not None for k in USAGE_FIELDS):
        return None
    if "total_tokens" not in cleaned and "prompt_tokens" in cleaned and "completion_tokens" in cleaned:
        cleaned["total_tokens"] = cleaned["prompt_tokens"] + cleaned["completion_tokens"]
    return cleaned


def _clean_texts(message, choice):
    if isinstance(message, dict) and isinstance(message.get("content"), str):
        message["content"] = clean_text(message["content"])
    if isinstance(choice.get("text"), str):
        choice["text"] = clean_text(choice["text"])


class Counts:
    def __init__(self):
        self.prompt_tokens = self.completion_tokens = None
        self.finish_reason = ""

    def read_usage(self, usage):
        if usage:
            self.prompt_tokens = count(usage.get("prompt_tokens"))
            self.completion_tokens = count(usage.get("completion_tokens"))


class Answer(Counts):
    """One upstream's answers, normalised where it strays: `rewrite` for TGI's Messages API and hf-inference
    (call ids, argument objects, finish reasons, empty ids), usage cleaned for everyone."""

    def __init__(self, route, answer_id, rewrite, wants_usage):
        super().__init__()
        self.chat = route == "chat"
        self.answer_id, self.rewrite, self.wants_usage = answer_id, rewrite, wants_usage
        self.calls = {}  # (choice index, call index) -> the id the caller sees
        self.finished = set()  # choice indexes that had a finish reason
        self.seen = set()
        self.first = None  # the first event: its id, created and model for a finish the console adds
        self.usage_event = b""
        self.raw_call = ""  # TGI < 3.2's call text, held until it is whole
        self.held = False

    # --- whole answers ---------------------------------------------------------------------------------------

    def whole(self, answer):
        if not isinstance(answer, dict) or not isinstance(answer.get("choices"), list):
            raise HFError("bad_response", _("The answer has no choices."))
        usage = _clean_usage(answer.get("usage"))
        self.read_usage(usage)
        if usage is None:
            answer.pop("usage", None)
        else:
            answer["usage"] = usage
        if self.rewrite:
            self._identity(answer, "chat.completion")
        for choice in answer["choices"]:
            if not isinstance(choice, dict):
                continue
            message = choice.get("message") if self.chat else None
            _clean_texts(message, choice)
            if self.rewrite and isinstance(message, dict) and message.get("tool_calls"):
                message["tool_calls"] = self._calls(choice.get("index", 0), message["tool_calls"], whole=True)
                message["content"] = message.get("content") or None
            self._finish(choice, bool(isinstance(message, dict) and message.get("tool_calls")))
        return answer

    # --- streams -----------------------------------------------------------------------------------------------

    def passed(self, chunk):
        """`chunk` (bytes as read from the upstream) as the caller gets it when it holds whole events only, each
        one `data: ` line and a blank line, with nothing to rewrite; None when its events must be read one by one.
        A server fallen behind reads many events at once: they go on in one piece, never split nor parsed.

        Searches are find(), not `in`: on Python 3.11 bytes' `in` first tries its operand as an integer, building
        and formatting a TypeError each time, which makes it twice find()'s cost, on every token of every stream."""
        if (
            chunk.startswith(b"data: ")
            and chunk.endswith(b"\n\n")
            # every line end is an event's own pair: no other field, comment, blank line or multi-line data
            and chunk.count(b"\n") == 2 * chunk.count(b"\n\ndata: ") + 2
            and chunk.find(b"\r") < 0
            and chunk.find(b"[DONE]") < 0
            and self.first is not None
            and self._plain(chunk)
        ):
            return self._usage_dropped(chunk)
        return None

    def _plain(self, payload):
        """Whether events need no rewrite: no finish, no usage, no error (nearly every token)."""
        find = payload.find
        return (
            not self.rewrite
            and find(b'"finish_reason":"') < 0
            and find(b'"finish_reason": "') < 0
            and find(b'"usage":{') < 0
            and find(b'"usage": {') < 0
            and find(b'"error"') < 0
            and find(b"\\u") < 0  # an escape may be a lone surrogate, which the text must not keep
        )

    def _usage_dropped(self, events):
        if self.wants_usage:
            return events
        # The console asked for usage itself; the caller did not, and gets chunks without the field (vLLM's last
        # field, each event's: one pass when it is; bytes.replace gives the same object back when nothing is).
        dropped = events.replace(b',"usage":null', b"")
        if dropped.find(b'"usage":null') >= 0:
            dropped = dropped.replace(b'"usage":null,', b"")
        return dropped

    def event(self, payload):
        """The SSE bytes to send for one upstream event's data (b"" for none). An event with nothing to rewrite
        goes out as it came, unparsed (the first one is read for its id, created and model, and goes out as it came)."""
        plain = self._plain(payload)
        if plain and self.first is not None:
            return b"data: " + self._usage_dropped(payload) + b"\n\n"
        try:
            event = json.loads(payload)
        except ValueError:
            raise HFError("bad_response", _("A stream event is not JSON: %(data)s") % {"data": payload[:100]}) from None
        if not isinstance(event, dict):
            raise not_an_object()
        if event.get("error"):
            raise stream_error(event)
        if self.first is None:
            self.first = event
        choices = event.get("choices")
        if "usage" in event:
            usage = _clean_usage(event["usage"])
            self.read_usage(usage)
            if not choices and (usage is None or not self.wants_usage):
                return b""  # usage the console asked for itself, or a usage chunk of null counts
            if not choices:
                # Held for close(): a finish reason the upstream left out goes before it, as OpenAI orders them.
                event["usage"] = usage
                self.usage_event = b"data: " + json.dumps(event).encode() + b"\n\n"
                return b""
            if usage is None and not self.wants_usage:
                del event["usage"]
            else:
                event["usage"] = usage
        if self.rewrite:
            self._identity(event, "chat.completion.chunk")
        shown = self.held = False
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") if self.chat else None
            _clean_texts(delta if self.chat else None, choice)
            calls = delta.get("tool_calls") if isinstance(delta, dict) else None
            if self.rewrite and isinstance(calls, dict):
                self._hold_old_call(delta)  # TGI < 3.2: the call's raw grammar text, whole only at its end
                calls = None
                if not delta.get("content") and not choice.get("finish_reason"):
                    continue
            if self.raw_call and choice.get("finish_reason"):
                calls = delta["tool_calls"] = [self._old_call()]
            if self.rewrite and calls:
                delta["tool_calls"] = self._calls(choice.get("index", 0), calls, whole=False)
            self._finish(choice, bool(calls))
            shown = True
        if self.held and not shown:
            return b""
        if plain:
            return b"data: " + self._usage_dropped(payload) + b"\n\n"
        return b"data: " + json.dumps(event).encode() + b"\n\n"

    def _hold_old_call(self, delta):
        piece = (delta.pop("tool_calls").get("function") or {}).get("arguments")
        self.raw_call += piece if isinstance(piece, str) else ""
        self.held = True

    def _old_call(self):
        """TGI < 3.2's streamed call, `{"function": {"_name": name, ...arguments}}` and an end-of-turn token, as
        one call delta."""
        text, self.raw_call = self.raw_call, ""
        try:
            wrapped = json.loads(text[: text.rfind("}") + 1])
        except ValueError:
            raise HFError("bad_response", _("The server's tool call is not JSON.")) from None
        function = wrapped.get("function") if isinstance(wrapped, dict) else None
        if not isinstance(function, dict):
            raise HFError("bad_response", _("The server's tool call is not JSON."))
        name = function.pop("_name", "")
        return {"index": 0, "function": {"name": name if isinstance(name, str) else "", "arguments": function}}

    def close(self):
        """The events an upstream left out: a finish reason for each choice that had none (TGI's tool streams
        end without one, and the AI SDK refuses such a stream, §13.7)."""
        missing = sorted(self.seen - self.finished) or ([] if self.finished else [0])
        if not missing:
            return self.usage_event
        first = self.first or {}
        choices = []
        for index in missing:
            delta = {"tool_calls": self._calls(index, [self._old_call()], whole=False)} if self.raw_call else {}
            reason = "tool_calls" if any(i == index for i, _c in self.calls) else "stop"
            choice = {"index": index, "finish_reason": reason, "logprobs": None}
            choice.update({"delta": delta} if self.chat else {"text": ""})
            choices.append(choice)
            self.finish_reason = self.finish_reason or reason
        event = {
            "id": first.get("id") or self.answer_id,
            "object": "chat.completion.chunk" if self.chat else "text_completion",
            "created": first.get("created") or int(time.time()),
            "model": first.get("model") or "",
            "choices": choices,
        }
        return b"data: " + json.dumps(event).encode() + b"\n\n" + self.usage_event

    # --- shared --------------------------------------------------------------------------------------------------

    def _identity(self, event, kind):
        if not event.get("id"):
            event["id"] = self.answer_id
        if self.chat and event.get("object") != kind:  # TGI 2.0 named its chat answers text_completion
            event["object"] = kind

    def _finish(self, choice, has_calls):
        index = choice.get("index", 0)
        self.seen.add(index)
        reason = choice.get("finish_reason")
        if not reason:
            return
        if self.rewrite:
            reason = finish_name(reason)
            if reason == "stop" and (has_calls or any(i == index for i, _c in self.calls)):
                reason = "tool_calls"  # TGI says stop (or eos_token) after a call
            choice["finish_reason"] = reason
        self.finished.add(index)
        self.finish_reason = self.finish_reason or finish_name(reason)

    def _calls(self, choice_index, calls, whole):
        """OpenAI's tool calls from TGI's: a list (TGI < 3.2 streams one object), string arguments (TGI < 3.2
        sends an object), ids unique in the conversation (TGI numbers from 0), name and id in a call's first
        delta only."""
        if isinstance(calls, dict):
            calls = [calls]
        out = []
        for position, call in enumerate(calls if isinstance(calls, list) else []):
            if not isinstance(call, dict):
                continue
            index = call.get("index") if isinstance(call.get("index"), int) else position
            function = call.get("function") if isinstance(call.get("function"), dict) else {}
            arguments = function.get("arguments")
            if arguments is None:
                arguments = ""
            elif not isinstance(arguments, str):
                arguments = json.dumps(arguments)
            key = (choice_index, index)
            if key in self.calls and not whole:
                out.append({"index": index, "function": {"arguments": arguments}})
                continue
            self.calls[key] = self.calls.get(key) or new_call_id()
            named = {"name": function.get("name") or "", "arguments": arguments}
            shaped = {"id": self.calls[key], "type": "function", "function": named}
            out.append(shaped if whole else {"index": index, **shaped})
        return out
