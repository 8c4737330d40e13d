"""Tools in the playground's chat: the person's tool definitions checked in plain words, a run with tools sent as
/v1/chat/completions relays it (huggingface/relay.py: the same body, TGI's dialect, the same answer rewriting),
and its answer read back as text, tool-call pieces and a Finish for the run's relay (runs.Relay)."""

import json
import re

from django import forms
from django.utils.translation import gettext as _

from providers.core.targets import bare_target
from providers.huggingface import adapters, relay
from providers.huggingface.adapters import fields
from providers.huggingface.errors import HFError

CHOICES = ("auto", "required", "none")
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # OpenAI's rule for a function's name


def checked(text, choice, model):
    """(the tool definitions, the choice) from what the person typed; ValidationError({field: words}) naming what is
    wrong. No tools (an empty box): ([], "")."""
    if not text.strip():
        return [], ""
    capabilities = adapters.adapter_for(bare_target(model)).capabilities(bare_target(model))
    if not capabilities.tools:
        message = _(
            "%(model)s cannot call tools: %(engine)s does not do tool calling. Clear the tools, or pick another model."
        )
        raise forms.ValidationError({"tools": message % {"model": model.display_name, "engine": capabilities.label}})
    try:
        tools = json.loads(text)
    except RecursionError:
        raise forms.ValidationError({"tools": _("The tools nest too deeply.")}) from None
    except ValueError as exc:
        message = _("The tools are not valid JSON (line %(line)s, column %(column)s).")
        raise forms.ValidationError({"tools": message % {"line": exc.lineno, "column": exc.colno}}) from None
    if not isinstance(tools, list) or not tools:
        raise forms.ValidationError({"tools": _("The tools must be a list, [ … ], with one object per tool.")})
    names = set()
    for number, tool in enumerate(tools, 1):
        problem = _tool_problem(number, tool, names)
        if problem:
            raise forms.ValidationError({"tools": problem})
    choice = choice or "auto"
    if choice not in CHOICES and choice not in names:
        message = _("The tool choice names %(name)s, which is not among the tools.")
        raise forms.ValidationError({"tool_choice": message % {"name": choice}})
    try:
        fields.check_tools(tools, upstream_choice(choice))  # the API's own rules, so the two never disagree
    except fields.Refused as exc:
        raise forms.ValidationError({exc.param: exc.message}) from None
    return tools, choice


def _tool_problem(number, tool, names):
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or tool.get("type", "function") != "function":
        return _('Tool %(n)s is not a function tool: write {"type": "function", "function": {…}}.') % {"n": number}
    name = function.get("name")
    if not isinstance(name, str) or not name:
        return _('Tool %(n)s has no name: give its function a "name".') % {"n": number}
    if not NAME.match(name):
        return _("The name of tool %(n)s may hold only letters, digits, _ and -, 64 at most.") % {"n": number}
    if name in names:
        return _("Two tools are named %(name)s: give each its own name.") % {"name": name}
    names.add(name)
    if "parameters" in function and not isinstance(function["parameters"], dict):
        return _("The parameters of %(name)s must be a JSON schema object, {…}.") % {"name": name}
    return None


def upstream_choice(choice):
    return choice if choice in CHOICES else {"type": "function", "function": {"name": choice}}


def message_ok(message):
    """A tool round trip's messages, as the page keeps them: an assistant's calls, a tool's result."""
    if message.get("role") == "tool":
        return isinstance(message.get("tool_call_id"), str) and isinstance(message.get("content"), str)
    calls = message.get("tool_calls")
    return (
        message.get("role") == "assistant"
        and isinstance(message.get("content", ""), (str, type(None)))
        and isinstance(calls, list)
        and bool(calls)
        and all(_call_ok(call) for call in calls)
    )


def _call_ok(call):
    function = call.get("function") if isinstance(call, dict) else None
    return (
        isinstance(call.get("id"), str)
        and isinstance(function, dict)
        and isinstance(function.get("name"), str)
        and isinstance(function.get("arguments"), str)
    )


class CallPiece:
    """A piece of a tool call as it arrives: its name and id come first, its arguments in fragments."""

    __slots__ = ("index", "id", "name", "arguments")

    def __init__(self, index, call_id, name, arguments):
        self.index, self.id, self.name, self.arguments = index, call_id, name, arguments

    def event(self):
        return {"type": "tool_call", "index": self.index, "id": self.id, "name": self.name, "arguments": self.arguments}


class ToolRun:
    """A chat run with tools, as generation.generate() yields a run's items (text, IDLE, then a Finish), with a
    CallPiece for each piece of a tool call; `calls` holds the calls joined so far. The request leaves at once, in
    its reader, streamed or whole; IDLE while the upstream is silent. HFError before anything is sent."""

    def __init__(self, target, run, stream, deadline):
        self.calls = []
        body = {
            "messages": [_sendable(m) for m in run.messages],
            "tools": run.tools["definitions"],
            "tool_choice": upstream_choice(run.tools.get("choice") or "auto"),
            "stream": stream,
        }
        try:
            self.body = relay.request_body(target, "chat", body, run.parameters)
        except fields.Refused as exc:
            raise HFError("input_rejected", exc.message) from None
        opened = relay.open_relay if stream else relay.open_whole  # either leaves at once, in its reader
        try:
            self.answer, self.generation = opened(target, "chat", self.body, "", deadline, wants_usage=False)
        except HFError as exc:
            raise _named(exc, self.body) from None
        self.items = self._items()

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.items)

    def close(self):
        try:
            self.items.close()
        finally:
            self.generation.close()

    def _items(self):
        texts = []
        try:
            for item in self.generation:
                if isinstance(item, dict):  # a whole answer, rewritten as the API's
                    pieces = self._read(item, "message")
                elif isinstance(item, bytes):  # a stream's events, as the API relays them
                    pieces = (piece for event in _events(item) for piece in self._read(event, "delta"))
                elif isinstance(item, str):  # the text of a whole answer cut at the size limit (a failure follows)
                    pieces = [item]
                elif isinstance(item, relay.End):
                    break
                else:
                    yield item  # IDLE: the upstream is silent
                    continue
                for piece in pieces:
                    if isinstance(piece, str):
                        texts.append(piece)
                    yield piece
        except HFError as exc:
            raise _named(exc, self.body) from None
        answer = self.answer
        yield adapters.Finish("".join(texts), answer.finish_reason, answer.completion_tokens, {}, answer.prompt_tokens)

    def _read(self, event, key):
        """The text and call pieces of one answer or event (its first choice: the playground asks for one)."""
        choices = event.get("choices") if isinstance(event, dict) else None
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        message = choice.get(key) if isinstance(choice.get(key), dict) else {}
        if isinstance(message.get("content"), str) and message["content"]:
            yield message["content"]
        calls = message.get("tool_calls")
        for position, call in enumerate(calls if isinstance(calls, list) else []):
            if isinstance(call, dict):
                yield self._piece(position, call)

    def _piece(self, position, call):
        index = call["index"] if isinstance(call.get("index"), int) else position
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        arguments = function.get("arguments") or ""
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)  # an engine's object: the string OpenAI's shape has
        while len(self.calls) <= index:
            self.calls.append({"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        joined = self.calls[index]
        joined["id"] = joined["id"] or str(call.get("id") or "")
        joined["function"]["name"] = joined["function"]["name"] or str(function.get("name") or "")
        joined["function"]["arguments"] += arguments
        return CallPiece(index, joined["id"], joined["function"]["name"], arguments)


def _sendable(message):
    """A message as OpenAI's API takes it: an assistant's calls without text have content null."""
    if message.get("tool_calls") and not message.get("content"):
        return {**message, "content": None}
    return message


def _events(data):
    """The events (dicts) of relayed SSE bytes, one or more `data: {…}` blocks."""
    for block in data.split(b"\n\n"):
        if block.startswith(b"data: {"):
            try:
                yield json.loads(block[6:])
            except ValueError:
                raise HFError(
                    "bad_response", _("A stream event is not JSON: %(data)s") % {"data": block[:100]}
                ) from None


def _named(exc, body):
    """An upstream's refusal of tools (a server started without tool calling) in words that name them."""
    if relay.refused_by_upstream(exc, body) is None:
        return exc
    message = _(
        "This model’s server is not set up for tool calling: it refused the tools. Clear the tools, or ask an "
        "administrator to turn tool calling on for this server."
    )
    return HFError("input_rejected", message, exc.http_status)


def calls_of(generator):
    return list(getattr(generator, "calls", None) or [])
