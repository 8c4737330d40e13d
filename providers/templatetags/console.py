"""Template filters for the console's words: dates in one format, failure titles, audit titles and changes."""

import re

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from providers.api import keys
from providers.core import display
from providers.huggingface.errors import wording

register = template.Library()


@register.filter
def when(value):
    """<time> with the console's one date format; the full timestamp in the machine-readable attribute."""
    if not value:
        return "—"
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), display.when(value))


KEY_PREFIX = re.compile(re.escape(keys.KEY_PREFIX) + r"[A-Za-z0-9]+…?")


@register.filter
def object_text(text):
    """An audit entry's object, an API key's prefix in code type as on the key pages: a person compares it with
    the start of their key, so it must read as characters, not as a word."""
    return mark_safe(KEY_PREFIX.sub(lambda m: f'<code class="mono">{m.group(0)}</code>', escape(text)))


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
