"""What the provider page costs in queries: constant whatever the models and their runs."""

from django.urls import reverse

from tests.conftest import create_model
from tests.page_queries import add_runs, queries


def test_the_provider_page_costs_the_same_queries_with_many_models_and_runs(admin_client, admin_user, provider_token):
    first = create_model(display_name="m0")
    add_runs(admin_user, first, [10.0])
    few = queries(admin_client, reverse("huggingface"))
    for i in range(1, 60):
        add_runs(admin_user, create_model(display_name=f"m{i}"), [float(i), float(i + 1)])
    assert queries(admin_client, reverse("huggingface")) == few
