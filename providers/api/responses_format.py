"""OpenAI's Responses API said in chat completions (hf-protocol.md §17): a Responses request turned into the chat
body the console already relays or translates, and the chat answer turned back into a Response object, whole or as
the Responses stream's events. Nothing is kept between calls, so what needs a stored response is refused by name."""

import json
import time
import uuid

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from providers.api.openai_format import BadRequest, count
from providers.huggingface.sse import DONE, SSEParser

ROLES = ("user", "assistant", "system", "developer")
TOOL_CHOICES = ("auto", "none", "required")
# Fields carried to the chat call under the same name and meaning.
SAME = ("model", "temperature", "top_p", "parallel_tool_calls", "user", "stream")
# Fields that change nothing in a call the console makes and keeps nothing of; `store` and `background` only as false.
ACCEPTED = ("metadata", "stream_options", "include", "store", "background", "truncation")
# Fields needing a stored response, a hosted service or an output the chat call cannot give.
REFUSED = {
    "previous_response_id": gettext_lazy(
        "This console keeps no responses, so it cannot continue one: send the whole "
        "conversation in input instead of previous_response_id."
    ),
    "conversation": gettext_lazy("This console keeps no conversations: send the whole conversation in input."),
    "prompt": gettext_lazy("This console keeps no stored prompts: send instructions and input instead."),
    "reasoning": gettext_lazy("This console cannot pass reasoning settings to the models it serves."),
    "max_tool_calls": gettext_lazy("max_tool_calls limits hosted tools, which this console does not run."),
    "top_logprobs": gettext_lazy(
        "This console does not return log probabilities on /v1/responses; use /v1/chat/completions."
    ),
}
# A chat field named in an error -> the Responses field the caller sent.
PARAM_NAMES = {
    "messages": "input",
    "max_tokens": "max_output_tokens",
    "max_completion_tokens": "max_output_tokens",
    "response_format": "text.format",
    "stream_options": "stream",
}


def new_id(prefix):
    return f"{prefix}_{uuid.uuid4().hex}"


def chat_body(asked):
    """The chat completions body for a Responses request; BadRequest naming the field it cannot carry."""
    chat = {}
    for name, value in asked.items():
        if name in SAME:
            chat[name] = value
        elif name in REFUSED and value is not None:
            raise BadRequest(REFUSED[name], param=name, code="unsupported_parameter")
        elif name in ACCEPTED or name in REFUSED or name in ("input", "instructions", "tools", "tool_choice"):
            continue
        elif name == "max_output_tokens":
            chat["max_tokens"] = value
        elif name == "text":
            chat.update(_text_format(value))
        else:
            message = _("%(field)s is not a field this console can carry on /v1/responses.") % {"field": name}
            raise BadRequest(message, param=name, code="unsupported_parameter")
    _check_accepted(asked)
    chat["messages"] = _messages(asked.get("instructions"), asked.get("input"))
    if asked.get("tools") is not None:
        chat["tools"] = _tools(asked["tools"])
    if asked.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(asked["tool_choice"])
    if asked.get("stream") is True:
        chat["stream_options"] = {"include_usage": True}  # the Response's usage comes from the last chunk
    return chat


def _check_accepted(asked):
    if asked.get("store") not in (None, False):
        raise BadRequest(
            _("This console keeps no responses: send store false or leave it out."),
            param="store",
            code="unsupported_parameter",
        )
    if asked.get("background") not in (None, False):
        message = _("This console answers in the foreground only: send background false or leave it out.")
        raise BadRequest(message, param="background", code="unsupported_parameter")
    if asked.get("truncation") not in (None, "disabled"):
        message = _("This console never shortens the input: send truncation disabled or leave it out.")
        raise BadRequest(message, param="truncation", code="unsupported_parameter")
    if asked.get("include"):
        message = _("This console adds nothing to a response on request: send include as an empty list.")
        raise BadRequest(message, param="include", code="unsupported_parameter")
    if asked.get("metadata") is not None and not isinstance(asked["metadata"], dict):
        raise BadRequest(_("metadata must be an object."), param="metadata")


def _text_format(text):
    if text is None:
        return {}
    if not isinstance(text, dict):
        raise BadRequest(_("text must be an object."), param="text")
    if text.get("verbosity") is not None:
        message = _("This console cannot pass a verbosity to the models it serves.")
        raise BadRequest(message, param="text.verbosity", code="unsupported_parameter")
    spec = text.get("format")
    kind = spec.get("type") if isinstance(spec, dict) else None
    if spec is None or kind == "text":
        return {}
    if kind == "json_object":
        return {"response_format": {"type": "json_object"}}
    if kind == "json_schema" and isinstance(spec.get("schema"), dict):
        fields = {k: spec[k] for k in ("name", "description", "schema", "strict") if spec.get(k) is not None}
        return {"response_format": {"type": "json_schema", "json_schema": fields}}
    raise BadRequest(_("text.format must be text, json_object or json_schema with a schema."), param="text.format")


def _messages(instructions, given):
    messages = []
    if instructions is not None:
        if not isinstance(instructions, str):
            raise BadRequest(_("instructions must be a string."), param="instructions")
        messages.append({"role": "system", "content": instructions})
    if isinstance(given, str):
        return [*messages, {"role": "user", "content": given}]
    if not isinstance(given, list) or not given:
        raise BadRequest(_("input must be a string or a non-empty list of items."), param="input")
    for item in given:
        kind = item.get("type", "message") if isinstance(item, dict) else None
        if kind == "message" and item.get("role") in ROLES:
            messages.append({"role": item["role"], "content": _content(item.get("content"), item["role"])})
        elif kind == "function_call" and all(isinstance(item.get(k), str) for k in ("call_id", "name", "arguments")):
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and isinstance(last["content"], (str, type(None))):
                last.setdefault("tool_calls", []).append(call)  # the text and the calls of one turn, one message
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "reasoning":
            continue  # an earlier turn's thinking: chat has no place for it (open models' templates drop it too)
        elif kind == "function_call_output" and isinstance(item.get("call_id"), str):
            content = _content(item.get("output"), "tool")
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": content})
        elif kind in ("message", "function_call", "function_call_output"):
            message = _("An input item of type %(type)s is missing a field or has one of the wrong type.")
            raise BadRequest(message % {"type": kind}, param="input")
        elif not isinstance(kind, str):
            raise BadRequest(_("Each input item must be an object with a type or a role."), param="input")
        else:
            message = _(
                "This console takes input items of type message, function_call, function_call_output and "
                "reasoning only, not %(type)s."
            )
            raise BadRequest(message % {"type": kind}, param="input")
    return messages


def _content(content, role):
    """A message's content for chat: text joined into a string, images as image_url parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise BadRequest(_("A message's content must be a string or a list of parts."), param="input")
    parts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text") and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            parts.append({"type": "text", "text": part["refusal"]})
        elif kind == "input_image" and isinstance(part.get("image_url"), str) and role == "user":
            image = {"url": part["image_url"], **({"detail": part["detail"]} if part.get("detail") else {})}
            parts.append({"type": "image_url", "image_url": image})
        else:
            message = _(
                "This console takes content parts of type input_text, output_text and input_image only, not %(type)s."
            )
            raise BadRequest(message % {"type": kind if isinstance(kind, str) else "?"}, param="input")
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _tools(tools):
    if not isinstance(tools, list):
        raise BadRequest(_("tools must be a list."), param="tools")
    chat = []
    for tool in tools:
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            message = _("This console runs no hosted tools (%(type)s); only tools of type function can be sent.")
            raise BadRequest(
                message % {"type": kind if isinstance(kind, str) else "?"}, param="tools", code="unsupported_parameter"
            )
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise BadRequest(_("Each function tool needs a name."), param="tools")
        function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
        chat.append({"type": "function", "function": function})
    return chat


def _tool_choice(choice):
    if choice in TOOL_CHOICES:
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    message = _("tool_choice must be auto, none, required or {type: function, name}.")
    raise BadRequest(message, param="tool_choice", code="unsupported_parameter")


def responses_param(param):
    return PARAM_NAMES.get(param, param)


# --- answers --------------------------------------------------------------------------------------------


class Shape:
    """What every Response object of one call repeats: its id, model and the request's settings."""

    def __init__(self, asked, model):
        self.id, self.model, self.created = new_id("resp"), model, int(time.time())
        self.asked = asked

    def response(self, status, output, usage=None, finish=None, error=None):
        asked = self.asked
        incomplete = None
        if status == "incomplete":
            incomplete = {"reason": "content_filter" if finish == "content_filter" else "max_output_tokens"}
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": incomplete,
            "instructions": asked.get("instructions"),
            "max_output_tokens": asked.get("max_output_tokens"),
            "model": self.model,
            "output": output,
            "parallel_tool_calls": asked.get("parallel_tool_calls", True),
            "previous_response_id": None,
            "reasoning": None,
            "store": False,
            "temperature": asked.get("temperature"),
            "text": asked.get("text") or {"format": {"type": "text"}},
            "tool_choice": asked.get("tool_choice") or "auto",
            "tools": asked.get("tools") or [],
            "top_p": asked.get("top_p"),
            "truncation": "disabled",
            "usage": usage,
            "metadata": asked.get("metadata") or {},
            "background": False,
        }


def status_of(finish_reason):
    return "incomplete" if finish_reason in ("length", "content_filter") else "completed"


def usage_of(counts):
    """OpenAI's chat usage in the Responses API's names; None when the upstream's counts are not known."""
    counts = counts if isinstance(counts, dict) else {}
    prompt, completion = count(counts.get("prompt_tokens")), count(counts.get("completion_tokens"))
    if prompt is None or completion is None:
        return None
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def message_item(item_id, parts, status="completed"):
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": parts}


# A chat answer's kinds of text -> (output item type, content part type, the part's field, the events' prefix).
KINDS = {
    "text": ("message", "output_text", "text", "response.output_text"),
    "refusal": ("message", "refusal", "refusal", "response.refusal"),
    "reasoning": ("reasoning", "reasoning_text", "text", "response.reasoning_text"),
}


def part(kind, value):
    _item, part_type, field, _events = KINDS[kind]
    extra = {"annotations": [], "logprobs": []} if kind == "text" else {}
    return {"type": part_type, field: value, **extra}


def text_part(text):
    return part("text", text)


def item_of(kind, item_id, parts, status="completed"):
    if KINDS[kind][0] == "reasoning":
        return {"type": "reasoning", "id": item_id, "summary": [], "content": parts, "status": status}
    return message_item(item_id, parts, status)


def call_item(item_id, call_id, name, arguments, status="completed"):
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def reasoning_of(message):
    """A reasoning model's thinking, as vLLM, SGLang and llama.cpp send it beside the answer (§10.3)."""
    for name in ("reasoning_content", "reasoning"):
        if isinstance(message.get(name), str) and message[name]:
            return message[name]
    return None


def from_completion(completion, shape):
    """The Response object of a whole chat completion."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    output = []
    if reasoning_of(message):
        output.append(item_of("reasoning", new_id("rs"), [part("reasoning", reasoning_of(message))]))
    reason = choice.get("finish_reason")
    texts = (("text", message.get("content")), ("refusal", message.get("refusal")))
    parts = [part(kind, value) for kind, value in texts if isinstance(value, str) and value]
    if parts:
        output.append(message_item(new_id("msg"), parts, status_of(reason)))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        arguments = function.get("arguments")
        arguments = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
        output.append(call_item(new_id("fc"), call.get("id") or new_id("call"), function.get("name"), arguments))
    return shape.response(status_of(reason), output, usage_of(completion.get("usage")), reason)


class Events:
    """The Responses stream's events from a chat stream's bytes: items opened as their first delta comes and
    closed when another kind begins or at the end, `sequence_number` counted, keep-alive comments passed on
    (hf-protocol.md §17.1)."""

    def __init__(self, shape, max_line):
        self.shape, self.parser = shape, SSEParser(max_line)
        self.sequence = 0
        self.output = []  # the items, finished ones and the ones still open, in output order
        self.open = None  # [kind, output index, item id, text so far] of the open text, refusal or reasoning
        self.calls = {}  # the chat call's index -> output index of its function_call item
        self.finish = None
        self.usage = None

    def event(self, kind, **fields):
        data = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()

    def translate(self, chunks):
        yield self.event("response.created", response=self.shape.response("in_progress", []))
        yield self.event("response.in_progress", response=self.shape.response("in_progress", []))
        for data in chunks:
            payloads = self.parser.feed_bytes(data)
            if not payloads and data:
                yield b": keep-alive\n\n"
            for payload in payloads:
                if payload is DONE:
                    continue
                try:
                    chunk = json.loads(payload)
                except ValueError:
                    chunk = {
                        "error": {"code": "bad_response", "message": _("The server sent an event that is not JSON.")}
                    }
                if not isinstance(chunk, dict):
                    continue
                if isinstance(chunk.get("error"), dict):
                    yield from self._close_items("incomplete")
                    yield self._failed(chunk["error"])
                    return
                yield from self._chunk(chunk)
        status = status_of(self.finish)
        yield from self._close_items(status)
        done = self.shape.response(status, self.output, self.usage, self.finish)
        yield self.event("response.completed" if status == "completed" else "response.incomplete", response=done)

    def _chunk(self, chunk):
        if chunk.get("usage"):
            self.usage = usage_of(chunk["usage"])
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            for kind, piece in (
                ("reasoning", reasoning_of(delta)),
                ("refusal", delta.get("refusal")),
                ("text", delta.get("content")),
            ):
                if isinstance(piece, str) and piece:
                    yield from self._piece(kind, piece)
            for call in delta.get("tool_calls") or []:
                yield from self._call(call)
            self.finish = choice.get("finish_reason") or self.finish

    def _piece(self, kind, piece):
        if self.open is not None and self.open[0] != kind:
            yield from self._close_open()
        if self.open is None:
            index, item_id = len(self.output), new_id("rs" if kind == "reasoning" else "msg")
            self.output.append(item_of(kind, item_id, [], "in_progress"))
            self.open = [kind, index, item_id, ""]
            yield self.event("response.output_item.added", output_index=index, item=self.output[index])
            yield self.event(
                "response.content_part.added", item_id=item_id, output_index=index, content_index=0, part=part(kind, "")
            )
        _kind, index, item_id, _text = self.open
        self.open[3] += piece
        extra = {"logprobs": []} if kind == "text" else {}
        yield self.event(
            KINDS[kind][3] + ".delta", item_id=item_id, output_index=index, content_index=0, delta=piece, **extra
        )

    def _call(self, call):
        function = call.get("function") or {}
        position = call.get("index", 0)
        if position not in self.calls:
            yield from self._close_open()
            index = len(self.output)
            self.calls[position] = index
            item = call_item(
                new_id("fc"), call.get("id") or new_id("call"), function.get("name") or "", "", "in_progress"
            )
            self.output.append(item)
            yield self.event("response.output_item.added", output_index=index, item=dict(item))
        index = self.calls[position]
        item = self.output[index]
        item["name"] = item["name"] or function.get("name") or ""
        piece = function.get("arguments")
        if isinstance(piece, str) and piece:
            item["arguments"] += piece
            yield self.event(
                "response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=piece
            )

    def _close_open(self, status="completed"):
        if self.open is None:
            return
        kind, index, item_id, text = self.open
        self.open = None
        common = {"item_id": item_id, "output_index": index, "content_index": 0}
        extra = {"logprobs": []} if kind == "text" else {}
        yield self.event(KINDS[kind][3] + ".done", **{KINDS[kind][2]: text}, **extra, **common)
        yield self.event("response.content_part.done", part=part(kind, text), **common)
        self.output[index] = item_of(kind, item_id, [part(kind, text)], status)
        yield self.event("response.output_item.done", output_index=index, item=self.output[index])

    def _close_items(self, status):
        """Every item still open, done: `completed`, or `incomplete` when the answer was cut short."""
        yield from self._close_open(status)
        for index in sorted(self.calls.values()):
            item = self.output[index]
            item["status"] = status
            yield self.event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            )
            yield self.event("response.output_item.done", output_index=index, item=item)
        self.calls = {}

    def _failed(self, error):
        shown = {"code": error.get("code") or "server_error", "message": error.get("message") or ""}
        return self.event(
            "response.failed", response=self.shape.response("failed", self.output, self.usage, error=shown)
        )
