"""Model export and import: the api_id travels and is checked, and a file is validated before the write lock."""

import io
import json
import time

import pytest
from django.db import connection
from django.urls import reverse

from tests.held_locks import hold_write_lock, release_after


def import_file(admin_client, payload):
    import io

    from django.urls import reverse

    upload = io.BytesIO(json.dumps(payload).encode())
    upload.name = "models.json"
    return admin_client.post(reverse("models_import"), {"file": upload}).content.decode()


def test_the_api_id_is_exported_and_imported(admin_client):
    from django.urls import reverse

    from providers.models import HFModel
    from tests.conftest import create_model

    create_model(display_name="flan")
    HFModel.objects.filter(display_name="flan").update(api_id="my-flan")  # kept from before a rename
    payload = json.loads(admin_client.get(reverse("models_export")).content)
    assert payload["models"][0]["api_id"] == "my-flan"
    HFModel.objects.all().delete()
    page = import_file(admin_client, payload)
    assert "Created:" in page
    assert HFModel.objects.get().api_id == "my-flan"
    payload["models"][0]["api_id"] = "renamed-id"
    assert "Updated:" in import_file(admin_client, payload)
    assert HFModel.objects.get().api_id == "renamed-id"
    payload["models"][0]["api_id"] = None
    assert "Skipped (unchanged): 1" in import_file(admin_client, payload)  # no id in the file: the model's is kept
    assert HFModel.objects.get().api_id == "renamed-id"


ENTRY = {"endpoint_type": "hosted_api", "task": "text-generation", "repo_id": "openai-community/gpt2"}


@pytest.mark.parametrize(
    "api_id, message",
    [
        ("has space", "letters, digits"),
        ("x" * 101, "at most 100"),
        ("taken", "another model"),
        (7, "must be a text"),
    ],
)
def test_an_imported_api_id_is_checked(admin_client, api_id, message):
    from providers.models import HFModel
    from tests.conftest import create_model

    create_model(display_name="other")
    HFModel.objects.update(api_id="taken")
    payload = {
        "format": "hf-model-console/models",
        "version": 1,
        "models": [{"display_name": "new", "api_id": api_id, **ENTRY}],
    }
    page = import_file(admin_client, payload)
    assert "Nothing was imported" in page and message in page and "api_id" in page
    assert HFModel.objects.count() == 1


def test_an_api_id_given_twice_or_chosen_for_another_new_model(admin_client):
    from providers.models import HFModel

    twice = [{"display_name": n, "api_id": "same", **ENTRY} for n in ("a", "b")]
    payload = {"format": "hf-model-console/models", "version": 1, "models": twice}
    assert "appears twice" in import_file(admin_client, payload)
    # "b b" would be given the id "b-b" on save; the file gives that id to the later entry, which keeps it.
    models = [{"display_name": "b b", **ENTRY}, {"display_name": "c", "api_id": "b-b", **ENTRY}]
    assert "Created:" in import_file(admin_client, {**payload, "models": models})
    assert HFModel.objects.get(display_name="c").api_id == "b-b"
    assert HFModel.objects.get(display_name="b b").api_id == "b-b-2"


def hold_model_table_lock(seconds):
    """Another session holding the models table against writers (plain reads still go through)."""
    if connection.vendor == "sqlite":
        return hold_write_lock(seconds)
    import psycopg

    params = connection.get_connection_params()
    other = psycopg.connect(**{k: v for k, v in params.items() if k not in ("cursor_factory", "context")})
    other.execute("LOCK TABLE providers_hfmodel IN EXCLUSIVE MODE")
    return release_after(other, seconds)


@pytest.mark.django_db(transaction=True)
def test_an_import_is_validated_before_it_takes_the_write_lock(admin_client):
    released = hold_model_table_lock(3.0)
    upload = io.BytesIO(b'{"format": "hf-model-console/models", "models": [{"display_name": 5}]}')
    upload.name = "m.json"
    started = time.monotonic()
    response = admin_client.post(reverse("models_import"), {"file": upload})
    assert time.monotonic() - started < 2.0  # answered while the lock was still held
    assert not released.is_set()
    assert "must be a text" in " ".join(response.context["errors"])
    released.wait(5)
