"""The record of each API call, written once its answer is out, and usage summed per user, model and key."""

import logging
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from providers.api import keys
from providers.models import APICall

log = logging.getLogger(__name__)


class CallRecord:
    """What one call did; `save()` runs from the response's close(), after the last byte was handed over."""

    def __init__(self, route, started, caller=None):
        self.route = route
        self.started = started
        self.caller = caller
        self.entry = None
        self.stream = False
        self.status = 200
        self.category = ""
        self.prompt_tokens = None
        self.completion_tokens = None
        self.latency_ms = None
        self.ttft_ms = None
        self.saved = False

    def finish(self, now):
        if self.latency_ms is None:
            self.latency_ms = round((now - self.started) * 1000, 1)

    def save(self):
        if self.saved or self.caller is None:
            return
        self.saved = True
        try:
            _insert(
                key_id=self.caller.key_id,
                user_id=self.caller.owner_id,
                model_id=self.entry.pk if self.entry else None,
                model_name=self.entry.display_name if self.entry else "",
                route=self.route,
                stream=self.stream,
                status=self.status,
                category=self.category,
                prompt_tokens=self.prompt_tokens,
                completion_tokens=self.completion_tokens,
                latency_ms=self.latency_ms,
                ttft_ms=self.ttft_ms,
                created_at=timezone.now(),
            )
            keys.touch(self.caller.key_id)
        except Exception:  # the answer is already out; a failed record must not turn it into an error
            log.exception("could not record an API call")


_COLUMNS = (
    "key_id",
    "user_id",
    "model_id",
    "model_name",
    "route",
    "stream",
    "status",
    "category",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "ttft_ms",
    "created_at",
)


def _insert(**values):
    """One INSERT, its SQL built once: a model instance, save() and its signals were ~10% of a whole call's CPU
    (nothing listens to an APICall's save). Values go through the backend's own adaptation, as save() does."""
    values["created_at"] = connection.ops.adapt_datetimefield_value(values["created_at"])
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:  # as save() does
        cursor.execute(_sql(connection.vendor), [values[name] for name in _COLUMNS])


_SQL = {}


def _sql(vendor):
    if vendor not in _SQL:
        quote = connection.ops.quote_name
        names = ", ".join(quote(APICall._meta.get_field(n.removesuffix("_id")).column) for n in _COLUMNS)
        marks = ", ".join(["%s"] * len(_COLUMNS))
        _SQL[vendor] = f"INSERT INTO {quote(APICall._meta.db_table)} ({names}) VALUES ({marks})"
    return _SQL[vendor]


def _summary(calls, group):
    rows = calls.values(group).annotate(
        calls=Count("id"),
        failures=Count("id", filter=Q(status__gte=400) | ~Q(category="")),
        prompt_tokens=Sum("prompt_tokens"),
        completion_tokens=Sum("completion_tokens"),
    )
    return {row[group]: row for row in rows}


def recent(days=30):
    return APICall.objects.filter(created_at__gte=timezone.now() - timedelta(days=days))


def usage_by(group, days=30, **filters):
    """{value of `group`: {"calls", "failures", "prompt_tokens", "completion_tokens"}} over the last days."""
    return _summary(recent(days).filter(**filters), group)
