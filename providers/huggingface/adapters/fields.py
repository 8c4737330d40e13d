"""OpenAI's chat and completions request fields, and what an upstream must be able to do to take each one: every
field the caller sends is forwarded, translated by the adapter, or refused by name (never dropped unseen). A value
that changes nothing (`n: 1`, a penalty of 0, `logprobs: false`) passes everywhere; where the upstream does not
take the field it is left out (hf-protocol.md §12.3, §13, §14)."""

from django.utils.translation import gettext as _

# The fields every OpenAI-compatible upstream takes (the names the console has always relayed).
BASIC_CHAT = frozenset(
    {"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "seed", "stream"}
    | {"stream_options"}
)
BASIC_COMPLETION = frozenset(
    {"model", "prompt", "max_tokens", "temperature", "top_p", "stop", "seed", "stream", "stream_options"}
)
TOOLS = frozenset({"tools", "tool_choice", "parallel_tool_calls"})
PENALTIES = frozenset({"presence_penalty", "frequency_penalty"})

# OpenAI field -> the values that change nothing (None is always one: OpenAI reads null as "not given").
NEUTRAL = {
    "n": (1,),
    "best_of": (1,),
    "presence_penalty": (0,),
    "frequency_penalty": (0,),
    "logit_bias": ({},),
    "logprobs": (False, 0),
    "top_logprobs": (0,),
    "echo": (False,),
    "suffix": ("",),
    "response_format": ({"type": "text"},),
    "tools": ([],),
    "tool_choice": ("none", "auto"),  # without tools, either asks for nothing
    "parallel_tool_calls": (True, False),  # a permission, not a demand: one call at most is within it
    "store": (False,),
    "metadata": ({},),
    "service_tier": ("auto", "default"),
    "modalities": (["text"],),
    "user": None,  # any value: an identifier for the caller's own records, which changes no output
    "stream_options": None,  # read by the console; the upstream gets what it needs
}
# Fields of OpenAI's own service that no upstream here can carry, with what to use instead.
OPENAI_ONLY = frozenset(
    {
        "audio",
        "prediction",
        "web_search_options",
        "reasoning_effort",
        "verbosity",
        "prompt_cache_key",
        "safety_identifier",
        "functions",
        "function_call",
    }
)


# What a model set to leave out what it cannot carry may leave out: OpenAI's own request fields.
DROPPABLE = frozenset(NEUTRAL) | OPENAI_ONLY | TOOLS | PENALTIES | {"top_k", "min_p", "repetition_penalty"}


class Refused(Exception):
    """A request field this upstream cannot carry: the API answers 400 naming it."""

    def __init__(self, param, message):
        self.param, self.message = param, str(message)
        super().__init__(self.message)


def neutral(name, value):
    if value is None:
        return True
    values = NEUTRAL.get(name, ())
    if values is None:
        return True
    return any(value == v and type(value) is type(v) for v in values)


def carried(route, body, accepted, engine_label, dropped=None):
    """The body's fields this upstream takes, in the caller's order; Refused for the first it cannot.

    `accepted`: the OpenAI fields and engine extras the upstream takes as sent (Capabilities.fields). `dropped`, a
    list where the model's admin chose to leave such fields out: OpenAI's known fields are then appended to it
    instead of refused (a name no OpenAI request has is still refused: more likely a typo than a feature)."""
    kept = {}
    for name, value in body.items():
        if name in accepted:
            kept[name] = value
            continue
        if neutral(name, value):
            continue
        if dropped is not None and name in DROPPABLE:
            dropped.append(name)
            continue
        raise Refused(name, refusal(name, route, engine_label))
    return kept


def refusal(name, route, engine_label):
    if name in ("functions", "function_call"):
        return _("%(name)s is OpenAI's older form of tool calling: send tools and tool_choice instead.") % {
            "name": name
        }
    if name in OPENAI_ONLY:
        return _("%(name)s is a feature of OpenAI's own service; %(engine)s cannot do it.") % {
            "name": name,
            "engine": engine_label,
        }
    if name in ("n", "best_of"):
        # Not fanned out into several upstream calls: that would multiply the upstream's cost behind one request
        # of the key's budget; the caller can send the calls itself, in parallel.
        return _("%(engine)s makes one answer per request; send %(name)s calls of one answer each instead.") % {
            "name": name,
            "engine": engine_label,
        }
    if name in NEUTRAL or name in TOOLS:
        return _("%(engine)s cannot do %(name)s with this model; send the request without it.") % {
            "name": name,
            "engine": engine_label,
        }
    if name.startswith("guided_"):
        # vLLM removed these in 0.12 and since ignores them without a word (hf-protocol.md §14.3).
        return _("%(name)s is no longer read by vLLM; use response_format (or structured_outputs).") % {"name": name}
    return _("Unknown parameter %(name)s for %(route)s on %(engine)s.") % {
        "name": name,
        "route": "/v1/chat/completions" if route == "chat" else "/v1/completions",
        "engine": engine_label,
    }


TOOL_CHOICES = ("none", "auto", "required")


def check_tools(tools, choice):
    """Refused (naming `tools` or `tool_choice`) unless they are OpenAI's shapes: a list of function tools, each
    named, and a choice among them. The API and the playground check them by these same rules."""
    if tools is not None and (not isinstance(tools, list) or not all(is_tool(t) for t in tools)):
        raise Refused("tools", _("tools must be a list of {type: function, function: {name, parameters}}."))
    if choice is not None and choice not in TOOL_CHOICES:
        function = choice.get("function") if isinstance(choice, dict) else None
        if not (isinstance(function, dict) and isinstance(function.get("name"), str)):
            message = _("tool_choice must be none, auto, required or {type: function, function: {name}}.")
            raise Refused("tool_choice", message)
        if not any(t["function"]["name"] == function["name"] for t in tools or []):
            raise Refused("tool_choice", _("tool_choice names a function that is not among the tools."))


def is_tool(tool):
    function = tool.get("function") if isinstance(tool, dict) else None
    return (
        tool.get("type", "function") == "function"
        and isinstance(function, dict)
        and (isinstance(function.get("name"), str) and function["name"])
    )
