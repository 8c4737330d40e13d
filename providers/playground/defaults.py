"""What an empty parameter field of the playground means for a model, shown as its placeholder: the value the
console sends in its place, else the engine's documented default, else a neutral word. Hints only, and honest:
nothing the protocol notes leave unconfirmed, nothing guessed."""

from django.utils.translation import gettext as _

from providers.core.targets import bare_target
from providers.huggingface import engines
from providers.huggingface.adapters import adapter_for, openai, tgi

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


def placeholders(model):
    """{"empty": {field: words}, "greedy": {field: words}}: what each empty field means for this model; "greedy"
    takes over for a completion run with Sampling unticked (the console then asks for greedy decoding)."""
    target = bare_target(model)
    adapter = adapter_for(target)
    if adapter is tgi.ADAPTER and target.engine == engines.TGI:
        return _tgi(served_context(model))
    if adapter is openai.ADAPTER and target.openai_style:
        empty = _all(_("engine default"))
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
