"""What an empty parameter field of the playground means for a model, shown as its placeholder: the value the
console sends in its place, else the engine's documented default, else a neutral word. Hints only, and honest:
nothing the protocol notes leave unconfirmed, nothing guessed."""

import logging

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from providers.core.targets import bare_target, resolve_token
from providers.huggingface import engines, transport, urls
from providers.huggingface.adapters import adapter_for, openai, tgi
from providers.huggingface.errors import HFError

log = logging.getLogger(__name__)

NAMES = ("max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "stop_sequences", "seed")


def number(value):
    """A number as a placeholder shows it: whole numbers grouped (2,048), others as short as they go (0.8)."""
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _all(words):
    return dict.fromkeys(NAMES, words)


def served_context(model):
    """The total tokens the model's server said it serves (TGI's /info max_total_tokens), as the last Test
    connection read it from the engine; None when unknown or read from another engine."""
    test = model.last_test
    info = test.server_info if test is not None and isinstance(test.server_info, dict) else {}
    if not model.engine or info.get("engine") != model.engine:
        return None
    context = info.get("context_length")
    return context if isinstance(context, int) and context > 0 else None


def placeholders(model, live=None):
    """{"empty": {field: words}, "greedy": {field: words}}: what each empty field means for this model; "greedy"
    takes over for a completion run with Sampling unticked (the console then asks for greedy decoding).
    `live`: what the engine itself said just now (live_facts), else the last Test connection's reading."""
    target = bare_target(model)
    adapter = adapter_for(target)
    live = live or {}
    if adapter is tgi.ADAPTER and target.engine == engines.TGI:
        return _tgi(live.get("context") or served_context(model))
    if adapter is openai.ADAPTER and target.openai_style:
        empty = _all(_("engine default"))
        for name, value in (live.get("sampling") or {}).items():
            empty[name] = number(value)
        if target.task == "chat":
            return {"empty": empty, "greedy": {}}
        # adapters/openai.py sends DEFAULT_COMPLETION_TOKENS when the field is empty (vLLM would stop at 16,
        # hf-protocol.md §10.3), and temperature 0 when Sampling is unticked.
        empty["max_new_tokens"] = number(openai.DEFAULT_COMPLETION_TOKENS)
        return {"empty": empty, "greedy": {"temperature": _("0: no sampling")}}
    if target.endpoint_type == "inference_providers":
        return {"empty": _all(_("provider default")), "greedy": {}}
    if target.endpoint_type == "hosted_api":
        return {"empty": _all(_("model default")), "greedy": {}}
    return {"empty": _all(_("engine default")), "greedy": {}}  # TGI's Messages API, a server not identified


def _tgi(context):
    """TGI's native route (hf-protocol.md §3.2, GenerateParameters): what it applies to a parameter left out."""
    if context:
        tokens = _("up to %(n)s − prompt") % {"n": number(context)}
    else:
        tokens = _("rest of the context")
    empty = {
        "max_new_tokens": tokens,  # null: "up to max_total_tokens - input_len"
        "temperature": number(1),
        "top_p": _("1 (off)"),
        "top_k": _("off"),
        "repetition_penalty": _("1 (off)"),
        "stop_sequences": _("none"),
        "seed": _("random"),
    }
    # The console sends do_sample false when Sampling is unticked, and TGI then decodes greedily unless a
    # temperature, top-k or top-p is given (which imply sampling).
    unused = _("not used: no sampling")
    return {"empty": empty, "greedy": {"temperature": unused, "seed": unused}}


# llama.cpp's /props names (hf-protocol.md §10.5) of the fields it reads as adapters/openai.py sends them.
_LLAMACPP_SETTINGS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "repeat_penalty": "repetition_penalty",
}
LIVE_SECONDS = 600  # how long an engine's own reading is kept; a failed reading is tried again sooner
FAILED_SECONDS = 60


def has_live_facts(model):
    """Whether the engine can be asked what it applies (TGI's /info, llama.cpp's /props). Never a Hugging Face
    Inference Endpoint: its first request wakes a replica scaled to zero (§9.6), and a hint is not worth that;
    Test connection's reading serves there."""
    if model.endpoint_type != "inference_endpoint" or model.engine not in (engines.TGI, engines.LLAMACPP):
        return False
    host = urls.origin_of(model.endpoint_url)[1]
    return not host.endswith("." + urls.DEDICATED_ENDPOINTS)


def live_facts(model):
    """{"context": TGI's max_total_tokens} or {"sampling": {field: llama.cpp's default}}, read from the engine
    through the one transport (short deadline) and cached; {} when it cannot say: the placeholders then fall back."""
    key = f"playground-defaults:{model.pk}:{model.version}:{model.engine}:{model.endpoint_url}"
    found = cache.get(key)
    if found is not None:
        return found
    found, seconds = {}, LIVE_SECONDS
    deadline = transport.Deadline(settings.HF_PICKER_TIMEOUT)
    try:
        token = resolve_token(model)
        if model.engine == engines.TGI:
            info = engines.endpoint_info(model.endpoint_url, token, deadline) or {}
            context = info.get("max_total_tokens")
            if isinstance(context, int) and not isinstance(context, bool) and context > 0:
                found = {"context": context}
        else:
            params = engines.generation_settings(model.endpoint_url, token, deadline) or {}
            found = {
                "sampling": {
                    name: params[key]
                    for key, name in _LLAMACPP_SETTINGS.items()
                    if isinstance(params.get(key), (int, float)) and not isinstance(params.get(key), bool)
                }
            }
    except HFError as exc:
        log.info("could not read the defaults of model %s: %s", model.pk, exc.category)
        found, seconds = {}, FAILED_SECONDS
    cache.set(key, found, seconds)
    return found
