"""Template filters for the console's words: dates in one format, failure titles, audit titles and changes."""

from django import template
from django.utils.html import format_html

from providers.core import display
from providers.huggingface.errors import wording

register = template.Library()


@register.filter
def when(value):
    """<time> with the console's one date format; the full timestamp in the machine-readable attribute."""
    if not value:
        return "—"
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), display.when(value))


@register.filter
def failure_title(category, endpoint_type=""):
    return wording(category, endpoint_type)[0] if category else ""


@register.filter
def failure_advice(category, endpoint_type=""):
    return wording(category, endpoint_type)[1] if category else ""


@register.filter
def action_title(action):
    return display.action_title(action)


@register.filter
def change_lines(entry):
    return display.change_lines(entry.changes, entry.action)


@register.filter
def value_text(value):
    return display.value_text(value)
