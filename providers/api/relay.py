"""Calls relayed as sent to an OpenAI-compatible upstream: the request checked (messages, tools, response_format,
the console's parameter rules), every field carried or refused by name, and the answer passed on whole or event
by event while the call is measured. Translated calls (TGI's own routes, the hosted pipelines) are checked here
too, against the parameters their adapter carries."""

import time

from django.conf import settings
from django.utils.translation import gettext as _

from providers.api import catalog
from providers.api import openai_format as fmt
from providers.core import shutdown
from providers.huggingface import adapters, relay
from providers.huggingface.adapters import fields
from providers.huggingface.errors import HFError

ROLES = ("system", "developer", "user", "assistant", "tool")
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


def prepare(body, route, entry, target, record=None):
    """(the upstream's body, stream, include_usage) for a relayed call; fmt.BadRequest naming what is wrong. A model
    set to leave out what its upstream cannot carry puts the names it left out in `record.dropped`."""
    if route == "chat":
        images = []
        _check_messages(body.get("messages"), images)
        if images:
            images_checked(images, entry)
        _check_tools(body)
    else:
        _check_prompt(body.get("prompt"), adapters.adapter_for(target).capabilities(target))
    fmt.parameters(body, entry.task, target)  # the console's and the upstream's rules on the values it knows
    stream, include_usage = fmt.stream_options(body)
    dropped = [] if entry.drop_unsupported else None
    try:
        upstream = relay.request_body(target, route, body, entry.defaults, dropped)
    except fields.Refused as exc:
        raise fmt.BadRequest(exc.message, param=exc.param, code="unsupported_parameter") from None
    if dropped and record is not None:
        record.dropped = dropped
    return upstream, stream, include_usage


def check_translated(body, route, entry, target, record=None):
    """The body a translated call carries: Refused (as a 400) for a field its adapter has no parameter for, or,
    for a model set to leave such fields out, the body without them (their names in `record.dropped`)."""
    chat_prompt = entry.is_chat
    capabilities = adapters.adapter_for(target).capabilities(target)
    accepted = set(fields.BASIC_COMPLETION if route != "chat" else fields.BASIC_CHAT)
    accepted -= {"max_tokens", "temperature", "top_p", "stop", "seed"}
    for console_name in capabilities.parameters:
        accepted.update(CONSOLE_NAMES.get(console_name, ()))
    if chat_prompt:
        accepted.discard("echo")  # the prompt becomes a chat message: there is no prompt to echo
    dropped = [] if entry.drop_unsupported else None
    try:
        fields.carried(route, body, accepted, str(capabilities.label or target.kind), dropped)
    except fields.Refused as exc:
        raise fmt.BadRequest(exc.message, param=exc.param, code="unsupported_parameter") from None
    if not dropped:
        return body
    if record is not None:
        record.dropped = dropped
    return {name: value for name, value in body.items() if name not in dropped}


def _bad(message, param="messages"):
    return fmt.BadRequest(message, param=param)


def images_checked(images, entry):
    """Refuse images for a model that takes none, naming the first image_url part (the router's catalog is read
    only when a call carries an image; when it cannot be read, the provider answers for itself)."""
    if catalog.accepts_images(entry, catalog.router_items([entry], cached_only=False)) is False:
        raise fmt.BadRequest(
            _("%(model)s does not take images (image_url parts); send text only, or call a vision model.")
            % {"model": entry.api_id},
            param=images[0],
            code="image_input_unsupported",
        )


def _image_error(part, where, images):
    """Why an image_url part cannot be carried, or None (its place noted in `images`)."""
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    where = f"{where}.image_url"
    if not isinstance(url, str):
        return where, _("An image_url part needs {url: an https URL or a data: URL}.")
    if url.startswith("data:"):
        head, comma, data = url.partition(",")
        if not comma or not head.startswith("data:image/") or not head.endswith(";base64"):
            return where, _("An image data URL must read data:image/<type>;base64,<data>.")
        size = len(data) * 3 // 4 - data[-2:].count("=")
        if size > settings.API_MAX_IMAGE_BYTES:
            message = _("This image is %(size)s bytes; the console takes images of up to %(limit)s bytes each.")
            return where, message % {"size": size, "limit": settings.API_MAX_IMAGE_BYTES}
    elif not url.startswith("https://"):
        return where, _("An image_url must be an https URL or a data: URL.")
    images.append(where)
    return None


def _check_messages(messages, images):
    if not isinstance(messages, list) or not messages:
        raise _bad(_("messages must be a non-empty list."))
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if not isinstance(role, str) or role not in ROLES:
            raise _bad(_("Each message needs a role: system, developer, user, assistant or tool."))
        content = message.get("content")
        if role == "assistant" and message.get("tool_calls") is not None:
            if not isinstance(message["tool_calls"], list) or not all(_is_call(c) for c in message["tool_calls"]):
                raise _bad(_("An assistant message's tool_calls must be a list of function calls."))
            if content is not None:
                _check_content(content, index, role, images)
            continue
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise _bad(_("A tool message needs the tool_call_id it answers."))
        _check_content(content, index, role, images)


def _check_content(content, index, role, images):
    if isinstance(content, str):
        return
    if isinstance(content, list) and content:
        for position, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                continue
            where = f"messages[{index}].content[{position}]"
            if kind == "image_url" and role == "user":
                problem = _image_error(part, where, images)
                if problem:
                    raise _bad(problem[1], problem[0])
                continue
            raise _bad(_("Content parts other than text and images (in user messages) are not supported."), where)
        return
    raise _bad(_("Each message needs text content (a string, or a list of content parts)."))


def _is_call(call):
    function = call.get("function") if isinstance(call, dict) else None
    return (
        isinstance(function, dict)
        and isinstance(function.get("name"), str)
        and isinstance(function.get("arguments"), (str, dict))
    )


def _check_tools(body):
    try:
        fields.check_tools(body.get("tools"), body.get("tool_choice"))
    except fields.Refused as exc:
        raise _bad(exc.message, exc.param) from None
    response_format = body.get("response_format")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in RESPONSE_FORMATS:
            raise _bad(_("response_format type must be text, json_object or json_schema."), "response_format")
        spec = response_format.get("json_schema")
        if kind == "json_schema" and not (isinstance(spec, dict) and isinstance(spec.get("schema", {}), dict)):
            raise _bad(_("response_format json_schema needs {name, schema}."), "response_format")


def _check_prompt(prompt, capabilities):
    if isinstance(prompt, str) and prompt:
        return
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) and p for p in prompt):
        if len(prompt) == 1 or capabilities.n:  # vLLM and SGLang answer a choice per prompt (and per n)
            return
        raise fmt.BadRequest(several_prompts(capabilities.label), param="prompt", code="unsupported_parameter")
    raise fmt.BadRequest(_("prompt must be a non-empty string or a list of them."), param="prompt")


def several_prompts(label):
    return _("%(engine)s takes one prompt per call; send a call for each prompt.") % {"engine": label}


# How long a stream's answer waits for the upstream's first event before its headers go out with a keep-alive
# comment: a failure within it still gets its own status (a 4xx, a 503 to retry); a slow first token no longer
# holds back every byte (openai-python's read timeout counts the wait for the headers too).
HOLD_SECONDS = 1.0


def first_item(upstream, kinds=(bytes, relay.End)):
    """The first item of a stream of `kinds` (its SSE bytes or End), or an idle marker once HOLD_SECONDS passed
    without one; HFError before any of it."""
    until = time.monotonic() + HOLD_SECONDS
    for item in upstream:
        if isinstance(item, kinds) or time.monotonic() >= until:
            return item
    raise HFError("connection_lost")


class Relayed:
    """A relayed stream as the caller gets it: the upstream's events, keep-alive comments while it is silent,
    its error as an error event, [DONE]; the call measured as it goes (EventStreamResponse closes it)."""

    def __init__(self, record, upstream, first):
        self.record, self.upstream, self.first = record, upstream, first

    def events(self):
        record, item = self.record, self.first
        items = self.upstream.items  # its generator, taken straight (self.upstream keeps the generation alive)
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
                    yield fmt.waking_or_alive(self.upstream)
                item = next(items)
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
