"""How values read on screen: one date format, words for booleans and empty values, titles for audit actions."""

from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# One format for every date the console shows; static/js/common.js (Console.when) writes the same one.
DATE_FORMAT = "Y-m-d H:i"

ACTION_TITLES = {
    "account.setup": gettext_lazy("First administrator created"),
    "model.create": gettext_lazy("Model added"),
    "model.update": gettext_lazy("Model changed"),
    "model.delete": gettext_lazy("Model deleted"),
    "model.enable": gettext_lazy("Model enabled"),
    "model.disable": gettext_lazy("Model disabled"),
    "model.test": gettext_lazy("Connection tested"),
    "model.token_replaced": gettext_lazy("Model token replaced"),
    "models.export": gettext_lazy("Models exported"),
    "models.import": gettext_lazy("Models imported"),
    "provider.token_replaced": gettext_lazy("Provider token replaced"),
    "person.create": gettext_lazy("Person added"),
    "person.role": gettext_lazy("Role changed"),
    "person.activate": gettext_lazy("Person reactivated"),
    "person.deactivate": gettext_lazy("Person deactivated"),
    "person.unlock": gettext_lazy("Person unlocked"),
    "api_key.create": gettext_lazy("API key created"),
    "api_key.revoke": gettext_lazy("API key revoked"),
    "api_key.limits": gettext_lazy("API key limits changed"),
    "endpoint.resume": gettext_lazy("Endpoint resumed"),
    "endpoint.wake": gettext_lazy("Endpoint woken"),
    "endpoint.start_failed": gettext_lazy("Endpoint failed to start"),
}

FIELD_LABELS = {
    "display_name": gettext_lazy("Display name"),
    "endpoint_type": gettext_lazy("Endpoint type"),
    "task": gettext_lazy("Task"),
    "repo_id": gettext_lazy("Model (Hub repo id)"),
    "endpoint_url": gettext_lazy("Endpoint URL"),
    "enabled": gettext_lazy("Enabled"),
    "send_provider_token": gettext_lazy("Send the provider token to this URL"),
    "accepts_images": gettext_lazy("The model takes images in chat"),
    "drop_unsupported": gettext_lazy("Leave out what this model cannot do"),
    "api_token": gettext_lazy("API token"),
    "max_new_tokens": gettext_lazy("Max new tokens"),
    "temperature": gettext_lazy("Temperature"),
    "top_p": gettext_lazy("Top-p"),
    "top_k": gettext_lazy("Top-k"),
    "repetition_penalty": gettext_lazy("Repetition penalty"),
    "stop_sequences": gettext_lazy("Stop sequences"),
    "role": gettext_lazy("Role"),
    "model": gettext_lazy("Model"),
    "ok": gettext_lazy("Result"),
    "category": gettext_lazy("Problem"),
    "count": gettext_lazy("Count"),
    "created": gettext_lazy("Created"),
    "updated": gettext_lazy("Updated"),
    "skipped": gettext_lazy("Skipped"),
    "attempts_cleared": gettext_lazy("Failed log-ins cleared"),
    "prefix": gettext_lazy("Key prefix"),
    "expires_at": gettext_lazy("Expires"),
    "owner": gettext_lazy("Owner"),
    "endpoint": gettext_lazy("Endpoint"),
    "state": gettext_lazy("State"),
    "requests_per_minute": gettext_lazy("Requests per minute"),
    "max_streams": gettext_lazy("Concurrent streams"),
}

# An Inference Endpoint's state as recorded by endpoint.* audit entries; the same words as the endpoint list.
ENDPOINT_STATES = {
    "running": gettext_lazy("running"),
    "paused": gettext_lazy("paused"),
    "scaledToZero": gettext_lazy("scaled to zero"),
    "initializing": gettext_lazy("initializing"),
    "pending": gettext_lazy("waiting to be scheduled"),
    "updating": gettext_lazy("updating"),
    "updateFailed": gettext_lazy("update failed"),
    "failed": gettext_lazy("failed"),
}

SECRET_SUMMARIES = {"token replaced": gettext_lazy("token replaced"), "token removed": gettext_lazy("token removed")}


def when(value):
    """A datetime in the console's one format, in the configured time zone ("" for none)."""
    if not value:
        return ""
    return date_format(timezone.localtime(value), DATE_FORMAT)


def value_text(value):
    """A stored value as a person reads it: no None/True/False/[...] on screen."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{label(k)}: {value_text(v)}" for k, v in value.items())
    if isinstance(value, str) and value in SECRET_SUMMARIES:
        return str(SECRET_SUMMARIES[value])
    if isinstance(value, str) and not value.strip():
        return value.encode("unicode_escape").decode() or "—"  # a blank stop sequence stays visible as "\n"
    return str(value)


def label(field):
    return str(FIELD_LABELS.get(field, field.replace("_", " ")))


def action_title(action):
    return str(ACTION_TITLES.get(action, action))


def _choices():
    """{field: {stored value: label}} for the fields whose stored values are codes (inference_endpoint, chat…)."""
    from providers.huggingface.engines import LABELS
    from providers.models import EndpointType, Task

    return {"endpoint_type": dict(EndpointType.choices), "task": dict(Task.choices), "engine": LABELS}


def field_value_text(name, value, choices=None):
    """A stored value of field `name` as a person reads it: a choice's label rather than its code."""
    labels = (choices or _choices()).get(name, {})
    if isinstance(value, str) and value in labels:
        return str(labels[value])
    return value_text(value)


def change_lines(changes, action=""):
    """["Field: before → after", …] for an audit entry's changes."""
    from providers.huggingface.errors import wording  # late: errors imports nothing of ours, keep it that way

    lines, choices = [], _choices()
    for name, change in (changes or {}).items():
        if isinstance(change, dict) and set(change) == {"from", "to"}:
            before, after = (field_value_text(name, change[k], choices) for k in ("from", "to"))
            lines.append(f"{label(name)}: {before} → {after}")
        elif name == "ok" and isinstance(change, bool):
            lines.append(f"{label(name)}: {_('works') if change else _('failed')}")
        elif name == "category":
            if change:
                lines.append(f"{label(name)}: {wording(change)[0]}")
        elif name == "state" and isinstance(change, str):
            lines.append(f"{label(name)}: {ENDPOINT_STATES.get(change, change)}")
        elif name.endswith("_at") and isinstance(change, str) and parse_datetime(change):
            lines.append(f"{label(name)}: {when(parse_datetime(change))}")  # stored as text (expires_at)
        else:
            lines.append(f"{label(name)}: {field_value_text(name, change, choices)}")
    return lines


def parameter_lines(params):
    """["Max new tokens: 64", …] for generation parameters."""
    return [f"{label(name)}: {value_text(value)}" for name, value in params.items()]
