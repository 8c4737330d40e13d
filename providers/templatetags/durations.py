"""Durations for people: a timedelta as whole minutes (the lock-out page says how long to wait)."""

import math

from django import template

register = template.Library()


@register.filter
def minutes(delta):
    return max(1, math.ceil(delta.total_seconds() / 60)) if delta else 0
