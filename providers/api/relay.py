"""Calls relayed as sent to an OpenAI-compatible upstream: the request checked (messages, tools, response_format,
the console's parameter rules), every field carried or refused by name, and the answer passed on whole or event
by event while the call is measured. Translated calls (TGI's own routes, the hosted pipelines) are checked here
too, against the parameters their adapter carries."""

import time

from django.utils.translation import gettext as _

from providers.api import openai_format as fmt
from providers.core import shutdown
from providers.huggingface import adapters, relay
from providers.huggingface.adapters import fields
from providers.huggingface.errors import HFError

ROLES = ("system", "developer", "user", "assistant", "tool")
TOOL_CHOICES = ("none", "auto", "required")
RESPONSE_FORMATS = ("text", "json_object", "json_schema", "json", "regex")  # the last two: TGI's, from huggingface_hub
# OpenAI's name of each console parameter (the translated routes carry these, by the adapter's table).
CONSOLE_NAMES = {
    "max_new_tokens": ("max_tokens", "max_completion_tokens"),
    "temperature": ("temperature",),
    "top_p": ("top_p",),
    "top_k": ("top_k",),
    "repetition_penalty": ("repetition_penalty",),
    "stop_sequences": ("stop",),
    "seed": ("seed",),
    "return_full_text": ("echo",),
}


def prepare(body, route, entry, target):
    """(the upstream's body, stream, include_usage) for a relayed call; fmt.BadRequest naming what is wrong."""
    if route == "chat":
        _check_messages(body.get("messages"))
        _check_tools(body)
    else:
        _check_prompt(body.get("prompt"))
    fmt.parameters(body, entry.task, target)  # the console's and the upstream's rules on the values it knows
    stream, include_usage = fmt.stream_options(body)
    try:
        upstream = relay.request_body(target, route, body, entry.defaults)
    except fields.Refused as exc:
        raise fmt.BadRequest(exc.message, param=exc.param, code="unsupported_parameter") from None
    return upstream, stream, include_usage


def check_translated(body, route, target, chat_prompt):
    """Refuse what a translated call cannot carry: the fields its adapter has no parameter for."""
    capabilities = adapters.adapter_for(target).capabilities(target)
    accepted = set(fields.BASIC_COMPLETION if route != "chat" else fields.BASIC_CHAT)
    accepted -= {"max_tokens", "temperature", "top_p", "stop", "seed"}
    for console_name in capabilities.parameters:
        accepted.update(CONSOLE_NAMES.get(console_name, ()))
    if chat_prompt:
        accepted.discard("echo")  # the prompt becomes a chat message: there is no prompt to echo
    try:
        fields.carried(route, body, accepted, str(capabilities.label or target.kind))
    except fields.Refused as exc:
        raise fmt.BadRequest(exc.message, param=exc.param, code="unsupported_parameter") from None


def _bad(message, param="messages"):
    return fmt.BadRequest(message, param=param)


def _check_messages(messages):
    if not isinstance(messages, list) or not messages:
        raise _bad(_("messages must be a non-empty list."))
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        if not isinstance(role, str) or role not in ROLES:
            raise _bad(_("Each message needs a role: system, developer, user, assistant or tool."))
        content = message.get("content")
        if role == "assistant" and message.get("tool_calls") is not None:
            if not isinstance(message["tool_calls"], list) or not all(_is_call(c) for c in message["tool_calls"]):
                raise _bad(_("An assistant message's tool_calls must be a list of function calls."))
            if content is not None and _content_error(content):
                raise _bad(_content_error(content))
            continue
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise _bad(_("A tool message needs the tool_call_id it answers."))
        problem = _content_error(content)
        if problem:
            raise _bad(problem)


def _content_error(content):
    if isinstance(content, str):
        return None
    if isinstance(content, list) and content:
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                continue
            return _("Content parts other than text are not supported by this console.")
        return None
    return _("Each message needs text content (a string, or a list of text parts).")


def _is_call(call):
    function = call.get("function") if isinstance(call, dict) else None
    return (
        isinstance(function, dict)
        and isinstance(function.get("name"), str)
        and isinstance(function.get("arguments"), (str, dict))
    )


def _check_tools(body):
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not all(_is_tool(t) for t in tools):
            raise _bad(_("tools must be a list of {type: function, function: {name, parameters}}."), "tools")
    choice = body.get("tool_choice")
    if choice is not None and choice not in TOOL_CHOICES:
        function = choice.get("function") if isinstance(choice, dict) else None
        if not (isinstance(function, dict) and isinstance(function.get("name"), str)):
            message = _("tool_choice must be none, auto, required or {type: function, function: {name}}.")
            raise _bad(message, "tool_choice")
        if not any(t["function"]["name"] == function["name"] for t in tools or []):
            raise _bad(_("tool_choice names a function that is not among the tools."), "tool_choice")
    response_format = body.get("response_format")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in RESPONSE_FORMATS:
            raise _bad(_("response_format type must be text, json_object or json_schema."), "response_format")
        spec = response_format.get("json_schema")
        if kind == "json_schema" and not (isinstance(spec, dict) and isinstance(spec.get("schema", {}), dict)):
            raise _bad(_("response_format json_schema needs {name, schema}."), "response_format")


def _is_tool(tool):
    function = tool.get("function") if isinstance(tool, dict) else None
    return (
        tool.get("type", "function") == "function"
        and isinstance(function, dict)
        and (isinstance(function.get("name"), str) and function["name"])
    )


def _check_prompt(prompt):
    if isinstance(prompt, str) and prompt:
        return
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str) and prompt[0]:
        return
    raise fmt.BadRequest(_("prompt must be one non-empty string."), param="prompt")


def first_item(upstream):
    """The first SSE bytes or End of a relayed stream, past the idle markers; HFError before any of it."""
    for item in upstream:
        if isinstance(item, (bytes, relay.End)):
            return item
    raise HFError("connection_lost")


class Relayed:
    """A relayed stream as the caller gets it: the upstream's events, keep-alive comments while it is silent,
    its error as an error event, [DONE]; the call measured as it goes (EventStreamResponse closes it)."""

    def __init__(self, record, upstream, first):
        self.record, self.upstream, self.first = record, upstream, first

    def events(self):
        record, item = self.record, self.first
        try:
            while not isinstance(item, relay.End):
                if shutdown.streams_must_end():  # a graceful stop nearly out of time: say so, and record the call
                    raise HFError(
                        "run_interrupted",
                        _("The console is restarting, so this stream was ended. Send the request again."),
                    )
                if isinstance(item, bytes):
                    if record.ttft_ms is None:
                        record.ttft_ms = round((time.perf_counter() - record.started) * 1000, 1)
                    # What a crash's sweep keeps of the call: its events (one read may bring many), each ending
                    # in a blank line, as the playground counts them.
                    record.sent += item.count(b"\n\n")
                    yield item
                else:
                    yield fmt.HEARTBEAT
                item = next(self.upstream)
        except StopIteration:
            record.category = "connection_lost"
            yield fmt.sse(fmt.upstream_error(HFError("connection_lost"))[1])
            yield fmt.DONE
            return
        except HFError as exc:
            record.category = exc.category
            yield fmt.sse(fmt.upstream_error(exc)[1])
            yield fmt.DONE
            return
        except GeneratorExit:
            record.category = "client_closed"
            raise
        finally:
            self.upstream.close()
            record.finish(time.perf_counter())
        record.prompt_tokens, record.completion_tokens = item.prompt_tokens, item.completion_tokens
        yield fmt.DONE
