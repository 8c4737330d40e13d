"""What the provider page costs in queries: constant whatever the models and their runs."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from providers.models import PlaygroundRun, RunStatus
from tests.conftest import create_model


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


def test_the_provider_page_costs_the_same_queries_with_many_models_and_runs(admin_client, admin_user, provider_token):
    first = create_model(display_name="m0")
    add_runs(admin_user, first, [10.0])
    few = queries(admin_client, reverse("huggingface"))
    for i in range(1, 60):
        add_runs(admin_user, create_model(display_name=f"m{i}"), [float(i), float(i + 1)])
    assert queries(admin_client, reverse("huggingface")) == few
