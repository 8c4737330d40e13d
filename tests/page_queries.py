"""What a page costs in queries, and the history that must not change it: for the tests that a page's queries
stay the same however many runs or models there are."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from providers.models import PlaygroundRun, RunStatus


def add_runs(user, model, latencies, status=RunStatus.OK, age=timedelta(0)):
    runs = PlaygroundRun.objects.bulk_create(
        PlaygroundRun(user=user, model=model, model_name=model.display_name, status=status, latency_ms=latency)
        for latency in latencies
    )
    if age:
        PlaygroundRun.objects.filter(pk__in=[r.pk for r in runs]).update(created_at=timezone.now() - age)


def queries(client, url):
    client.get(url)  # the first request of a process loads the user and permissions into its cache
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)
