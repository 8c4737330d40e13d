"""Generation parameters, checked with the rules of the upstream that will get them (its adapter's ranges: TGI's
router/src/validation.rs for TGI, none beyond the console's own bounds for llama.cpp's text routes).

The model form (defaults), the playground form and the API use these, so an admin and a member get the same
message the server would give, before any request is sent.
"""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from providers.huggingface.adapters import adapter_for

MAX_STOP_SEQUENCES = 4
MAX_STOP_SEQUENCE_LENGTH = 200

# The one table of numeric bounds (inclusive). The model form, the import (which runs the model form) and the
# playground build their fields from it, so a value is refused the same way wherever it is typed. The upper
# bounds are generous for any real model and keep every value inside a 32-bit column on PostgreSQL. A lower
# bound of None depends on the task and is checked by check_parameters below.
LIMITS = {
    "max_new_tokens": (1, 32768),
    "temperature": (None, 100.0),
    "top_p": (None, 1.0),
    "top_k": (1, 100000),
    "repetition_penalty": (None, 100.0),
    "seed": (0, 2**63 - 1),
}
MAX_NEW_TOKENS_LIMIT = LIMITS["max_new_tokens"][1]


# A stop box holds one sequence per line, so a line break or a tab in a sequence is written as an escape.
_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\\\": "\\"}
_ESCAPE = re.compile(r"\\[nt\\]")


def stop_lines(text):
    """The sequences of a stop box, byte for byte: a line of spaces is a stop sequence of spaces (a whitespace
    stop is a real one, `"\\n"` the commonest); empty lines are none."""
    return [_ESCAPE.sub(lambda m: _ESCAPES[m.group()], line) for line in (text or "").splitlines() if line]


def stop_box(sequences):
    return "\n".join(s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t") for s in sequences)


class StopSequencesField(forms.CharField):
    """One stop sequence per line (\\n and \\t for a line break and a tab); stored and sent as a list."""

    widget = forms.Textarea(attrs={"rows": 2})

    def __init__(self, **kwargs):
        super().__init__(strip=False, **kwargs)  # leading and trailing spaces are part of a sequence

    def prepare_value(self, value):
        return stop_box(value) if isinstance(value, list) else value

    def to_python(self, value):
        if isinstance(value, list):  # the import and the API hand over lists; the form posts text
            if not all(isinstance(v, str) for v in value):
                raise forms.ValidationError(_("Each stop sequence must be a text."))
            return [v for v in value if v]
        return stop_lines(super().to_python(value))

    def validate(self, value):
        if len(value) > MAX_STOP_SEQUENCES:
            raise forms.ValidationError(
                _("At most %(max)s stop sequences are supported. Given: %(n)s"),
                params={"max": MAX_STOP_SEQUENCES, "n": len(value)},
            )
        for sequence in value:
            text_error(sequence)
            if len(sequence) > MAX_STOP_SEQUENCE_LENGTH:
                raise forms.ValidationError(
                    _("A stop sequence may have at most %(max)s characters."),
                    params={"max": MAX_STOP_SEQUENCE_LENGTH},
                )

    def run_validators(self, value):
        pass  # CharField's validators expect one string; validate() checks each sequence


# Characters refused in free text: NUL (PostgreSQL cannot store it, and no prompt needs it).
NUL = "\x00"
# Characters that reorder how text is displayed (embeddings, overrides, isolates, marks): in a name they can make
# one model or person look like another, so names refuse them.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def text_error(value):
    """Raise ValidationError when a text holds a NUL character."""
    if NUL in value:
        raise forms.ValidationError(_("The text contains a NUL character, which cannot be stored."))


def name_error(value):
    """Raise ValidationError when a name holds NUL or a character that changes the direction of display."""
    text_error(value)
    if any(ch in BIDI_CONTROLS for ch in value):
        raise forms.ValidationError(
            _("A name may not contain characters that change the direction of the text (they can disguise it).")
        )


def _bounded(field_class, name, label, **kwargs):
    low, high = LIMITS[name]
    return field_class(label=label, required=False, min_value=low, max_value=high, **kwargs)


def parameter_fields():
    """Fresh field instances for a form (Django forms copy fields, but defaults must not be shared)."""
    return {
        "max_new_tokens": _bounded(
            forms.IntegerField,
            "max_new_tokens",
            _("Max new tokens"),
            error_messages={"min_value": _("Max new tokens must be strictly positive.")},
        ),
        "temperature": _bounded(forms.FloatField, "temperature", _("Temperature")),
        "top_p": _bounded(forms.FloatField, "top_p", _("Top-p")),
        "top_k": _bounded(
            forms.IntegerField,
            "top_k",
            _("Top-k"),
            error_messages={"min_value": _("Top-k must be strictly positive.")},
        ),
        "repetition_penalty": _bounded(forms.FloatField, "repetition_penalty", _("Repetition penalty")),
        "stop_sequences": StopSequencesField(
            label=_("Stop sequences"),
            required=False,
            help_text=_("One per line, at most 4; spaces are kept. Write \\n for a line break and \\t for a tab."),
        ),
    }


_LABELS = {
    "max_new_tokens": _("Max new tokens"),
    "temperature": _("Temperature"),
    "top_p": _("Top-p"),
    "top_k": _("Top-k"),
    "repetition_penalty": _("Repetition penalty"),
}


def _range_message(name, allowed):
    """What a value outside the upstream's range is told, in the words the server would use."""
    label = _LABELS.get(name, name)
    if allowed.low == 0 and allowed.low_open and allowed.high is None:
        if name == "temperature":
            return _("Temperature must be strictly positive (use sampling off for greedy).")
        return _("%(label)s must be strictly positive.") % {"label": label}
    if allowed.low is not None and allowed.high is not None and not (allowed.low_open or allowed.high_open):
        return _("%(label)s must be between %(low)s and %(high)s.") % {
            "label": label,
            "low": f"{allowed.low:g}",
            "high": f"{allowed.high:g}",
        }
    parts = []
    if allowed.low is not None:
        parts.append(f"{'>' if allowed.low_open else '>='} {float(allowed.low)}")
    if allowed.high is not None:
        parts.append(f"{'<' if allowed.high_open else '<='} {float(allowed.high)}")
    return _("%(label)s must be %(bounds)s.") % {"label": label, "bounds": " and ".join(parts)}


def check_parameters(cleaned, target):
    """Field name -> message for the values the upstream behind `target` would refuse: the ranges its adapter
    declares for this engine and task (TGI refuses temperature 0; llama.cpp, vLLM and chat routes take it)."""
    rules = adapter_for(target).capabilities(target).parameters
    errors = {}
    for name, value in cleaned.items():
        rule = rules.get(name)
        if rule is None or rule.range is None or isinstance(value, (bool, list, str)) or value is None:
            continue
        if value not in rule.range:
            errors[name] = _range_message(name, rule.range)
    return errors
