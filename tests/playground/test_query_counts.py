"""What the playground page costs in queries, constant whatever the history holds, and the usage figures it uses."""

import statistics
from datetime import timedelta

import pytest
from django.urls import reverse

from providers.core import roles
from providers.models import RunStatus
from providers.playground.runs import usage_by_model
from tests.conftest import create_model, make_user
from tests.page_queries import add_runs, queries


def test_the_playground_page_costs_the_same_queries_with_fifty_runs_in_history(member_client, member_user, db):
    model = create_model()
    add_runs(member_user, model, [100.0])
    few = queries(member_client, reverse("playground"))
    add_runs(member_user, model, [100.0] * 60)
    assert queries(member_client, reverse("playground")) == few


@pytest.mark.django_db
def test_usage_counts_and_medians_match_python_whatever_the_counts():
    user = make_user("uma", roles.MEMBER)
    odd, even, failing, old = (create_model(display_name=n) for n in ("odd", "even", "failing", "old"))
    add_runs(user, odd, [5.0, 1.0, 9.0, 3.0, 7.0])
    add_runs(user, even, [4.0, 1.0, 10.0, 2.0])
    add_runs(user, even, [None], status=RunStatus.OK)
    add_runs(user, failing, [50.0, 60.0], status=RunStatus.FAILED)
    add_runs(user, failing, [8.0])
    add_runs(user, old, [1.0], age=timedelta(days=31))
    usage = usage_by_model()
    assert usage[odd.pk] == {"runs": 5, "failures": 0, "median_ms": round(statistics.median([5, 1, 9, 3, 7]))}
    assert usage[even.pk] == {"runs": 5, "failures": 0, "median_ms": round(statistics.median([4, 1, 10, 2]))}
    assert usage[failing.pk] == {"runs": 3, "failures": 2, "median_ms": 8}
    assert old.pk not in usage
    assert set(usage_by_model([odd.pk])) == {odd.pk}
