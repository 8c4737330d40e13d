"""Generation parameters, checked with the rules text-generation-inference applies (router/src/validation.rs).

Both the model form (defaults) and the playground form use these, so an admin and a member get the same
message the server would give, before any request is sent.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

MAX_STOP_SEQUENCES = 4
MAX_NEW_TOKENS_LIMIT = 32768


def stop_lines(text):
    return [line for line in (text or "").splitlines() if line.strip()]


class StopSequencesField(forms.CharField):
    """One stop sequence per line; stored and sent as a list."""

    widget = forms.Textarea(attrs={"rows": 2})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        if isinstance(value, list):
            return [str(v) for v in value if str(v).strip()]
        return stop_lines(super().to_python(value))

    def validate(self, value):
        if len(value) > MAX_STOP_SEQUENCES:
            raise forms.ValidationError(
                _("At most %(max)s stop sequences are supported. Given: %(n)s"),
                params={"max": MAX_STOP_SEQUENCES, "n": len(value)},
            )


def parameter_fields():
    """Fresh field instances for a form (Django forms copy fields, but defaults must not be shared)."""
    return {
        "max_new_tokens": forms.IntegerField(
            label=_("Max new tokens"),
            required=False,
            min_value=1,
            max_value=MAX_NEW_TOKENS_LIMIT,
            error_messages={"min_value": _("Max new tokens must be strictly positive.")},
        ),
        "temperature": forms.FloatField(label=_("Temperature"), required=False),
        "top_p": forms.FloatField(label=_("Top-p"), required=False),
        "top_k": forms.IntegerField(
            label=_("Top-k"),
            required=False,
            min_value=1,
            error_messages={"min_value": _("Top-k must be strictly positive.")},
        ),
        "repetition_penalty": forms.FloatField(label=_("Repetition penalty"), required=False),
        "stop_sequences": StopSequencesField(
            label=_("Stop sequences"), required=False, help_text=_("One per line, at most 4.")
        ),
    }


def check_parameters(cleaned, task):
    """Field name -> message for the values a text-generation server would refuse."""
    errors = {}
    temperature = cleaned.get("temperature")
    if temperature is not None:
        if task == "chat":
            if not 0 <= temperature <= 2:
                errors["temperature"] = _("Temperature must be between 0 and 2 for chat.")
        elif temperature <= 0:
            errors["temperature"] = _("Temperature must be strictly positive (use sampling off for greedy).")
    top_p = cleaned.get("top_p")
    if top_p is not None:
        if task == "chat":
            if not 0 < top_p <= 1:
                errors["top_p"] = _("Top-p must be > 0.0 and <= 1.0 for chat.")
        elif not 0 < top_p < 1:
            errors["top_p"] = _("Top-p must be > 0.0 and < 1.0.")
    penalty = cleaned.get("repetition_penalty")
    if penalty is not None and penalty <= 0:
        errors["repetition_penalty"] = _("Repetition penalty must be strictly positive.")
    return errors
