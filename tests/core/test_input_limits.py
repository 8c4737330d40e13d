"""Hostile input to the model form, the import and the playground gets a message naming the field, never a 500.

Hostile input through the model form, the import and the playground: out-of-range numbers, wrong JSON types,
NUL characters, direction overrides, deep nesting and oversized files. Every one gets a clear message naming the
field, never a 500, on SQLite and PostgreSQL alike (the same table runs through all three entry points)."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from providers.core.parameters import LIMITS
from providers.models import HFModel, PlaygroundRun
from tests.conftest import create_model
from tests.conftest import model_form_data as form_data

pytestmark = pytest.mark.django_db

# (field, value): each must be refused, with the field named, by the form, the import and the playground.
OUT_OF_RANGE = [
    ("top_k", 100000000000000000000),  # SQLite: OverflowError before
    ("top_k", 2147483648),  # PostgreSQL: integer out of range before
    ("top_k", LIMITS["top_k"][1] + 1),
    ("max_new_tokens", LIMITS["max_new_tokens"][1] + 1),
    ("max_new_tokens", 2**64),
    ("temperature", 101.0),
    ("temperature", 1e308),
    ("repetition_penalty", 1000.0),
    ("top_p", 1.5),
]
NUL_TEXT = [("display_name", "fl\x00an"), ("stop_sequences", ["x\x00y"])]
BIDI = "admin\u202egnp.exe"


def import_file(client, models, raw=None):
    payload = (
        raw if raw is not None else json.dumps({"format": "hf-model-console/models", "version": 1, "models": models})
    )
    upload = io.BytesIO(payload.encode() if isinstance(payload, str) else payload)
    upload.name = "models.json"
    response = client.post(reverse("models_import"), {"file": upload})
    assert response.status_code == 200
    return response.context["errors"] or []


def entry(**fields):
    base = {"display_name": "flan", "endpoint_type": "hosted_api", "task": "text2text-generation"}
    base["repo_id"] = "google/flan-t5-base"
    base.update(fields)
    return base


def play(client, model, **fields):
    data = {"model": model.pk, "prompt": "Why is the sky blue", "max_new_tokens": "4"}
    data.update(fields)
    return client.post(reverse("playground_run"), data)


def as_form_value(value):
    return "\n".join(value) if isinstance(value, list) else str(value)


@pytest.mark.parametrize("field, value", OUT_OF_RANGE)
def test_out_of_range_numbers_are_refused_by_the_model_form(admin_client, field, value):
    response = admin_client.post(reverse("model_add"), form_data(**{field: as_form_value(value)}))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not HFModel.objects.exists()


@pytest.mark.parametrize("field, value", OUT_OF_RANGE)
def test_out_of_range_numbers_are_refused_by_the_import(admin_client, field, value):
    errors = import_file(admin_client, [entry(**{field: value})])
    assert len(errors) == 1 and errors[0].startswith(f"Entry 1 (flan), field “{field}”: ")
    assert not HFModel.objects.exists()


@pytest.mark.parametrize("field, value", [*OUT_OF_RANGE, ("seed", 2**64)])
def test_out_of_range_numbers_are_refused_by_the_playground(hf, member_client, hosted_model, field, value):
    response = play(member_client, hosted_model, **{field: as_form_value(value)})
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not PlaygroundRun.objects.exists() and hf.requests == []


@pytest.mark.parametrize(
    "field, value",
    [
        ("display_name", 123),
        ("display_name", {"a": 1}),
        ("stop_sequences", "abc"),
        ("stop_sequences", 5),
        ("stop_sequences", [1, 2]),
        ("temperature", True),
        ("temperature", "0.7"),
        ("top_k", 2.5),
        ("max_new_tokens", False),
        ("enabled", "false"),
        ("enabled", 0),
        ("repo_id", ["google/flan-t5-base"]),
    ],
)
def test_wrong_types_in_an_import_are_refused_with_the_field_named(admin_client, field, value):
    errors = import_file(admin_client, [entry(**{field: value})])
    assert len(errors) == 1
    assert "Entry 1 (" in errors[0] and f"field “{field}”: must be" in errors[0]
    assert not HFModel.objects.exists()


def test_right_types_are_imported_as_given(admin_client):
    errors = import_file(
        admin_client,
        [entry(enabled=False, temperature=1, top_k=40, stop_sequences=["\n\nUser:", "###"], max_new_tokens=None)],
    )
    assert errors == []
    model = HFModel.objects.get()
    assert (model.enabled, model.temperature, model.top_k, model.stop_sequences) == (
        False,
        1.0,
        40,
        ["\n\nUser:", "###"],
    )


def test_every_bad_entry_is_reported_with_its_index(admin_client):
    errors = import_file(admin_client, [entry(), entry(display_name="b", top_k=0), "x", entry(display_name="flan")])
    assert errors == [
        "Entry 2 (b), field “top_k”: Top-k must be strictly positive.",
        "Entry 3 is not an object.",
        "Entry 4 (flan), field “display_name”: appears twice in the file",
    ]


@pytest.mark.parametrize("field, value", NUL_TEXT)
def test_nul_is_refused_by_the_model_form(admin_client, field, value):
    # Refused before the form, for every route at once (core.middleware.RefuseNulMiddleware).
    response = admin_client.post(reverse("model_add"), form_data(**{field: as_form_value(value)}))
    assert response.status_code == 400 and not HFModel.objects.exists()


@pytest.mark.parametrize("field, value", [*NUL_TEXT, ("repo_id", "google/fl\x00an")])
def test_nul_is_refused_by_the_import(admin_client, field, value):
    errors = import_file(admin_client, [entry(**{field: value})])
    assert len(errors) == 1 and f"field “{field}”" in errors[0]


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": "Why\x00"},
        {"system": "be\x00nice"},
        {"stop_sequences": "a\x00"},
        {"messages": json.dumps([{"role": "user", "content": "hi\x00there"}])},
    ],
)
def test_nul_is_refused_by_the_playground(hf, member_client, chat_model, hosted_model, fields):
    model = chat_model if "messages" in fields or "system" in fields else hosted_model
    response = play(member_client, model, **fields)
    assert response.status_code == 400
    # A NUL typed in a field is refused before the form; one inside the JSON of the messages, by the form.
    assert set(response.json()["errors"]) == {"messages" if "messages" in fields else "__all__"}
    assert not PlaygroundRun.objects.exists()


def test_nul_in_search_boxes_is_no_500(admin_client):
    create_model()
    assert admin_client.get(reverse("huggingface"), {"q": "fl\x00an"}).status_code == 400
    assert (
        admin_client.get(reverse("audit_log"), {"actor": "a\x00", "target": "\x00", "action": "\x00"}).status_code
        == 400
    )


def test_direction_overrides_are_refused_in_names(admin_client):
    response = admin_client.post(reverse("model_add"), form_data(display_name=BIDI))
    assert "display_name" in response.context["form"].errors
    errors = import_file(admin_client, [entry(display_name="flan\u2066x\u2069")])
    assert len(errors) == 1 and "direction" in errors[0]
    person = admin_client.post(
        reverse("people"),
        {
            "username": BIDI,
            "email": "x@example.com",
            "password1": "Vq8#kd93jf!",
            "password2": "Vq8#kd93jf!",
            "role": "Member",
        },
    )
    assert "username" in person.context["form"].errors


def test_deep_nesting_gets_a_clear_message(hf, admin_client, member_client, chat_model):
    errors = import_file(admin_client, None, raw="[" * 100_000)
    assert errors == ["The file nests too deeply to be a model configuration."]
    response = play(member_client, chat_model, messages="[" * 100_000)
    assert response.status_code == 400 and "messages" in response.json()["errors"]


def test_import_size_and_count_are_bounded(admin_client, settings):
    settings.IMPORT_MAX_MODELS = 2
    errors = import_file(admin_client, [entry(display_name=f"m{i}") for i in range(3)])
    assert errors == ["The file holds 3 models; at most 2 are imported at once (IMPORT_MAX_MODELS)."]
    settings.IMPORT_MAX_BYTES = 100
    errors = import_file(admin_client, [entry()])
    assert errors == ["The file is larger than 100 bytes (IMPORT_MAX_BYTES)."]
    assert not HFModel.objects.exists()


def test_a_huge_refused_value_is_not_echoed_back(admin_client, settings):
    settings.IMPORT_MAX_BYTES = 12_000_000
    huge = "x" * 10_000_000
    response = admin_client.post(
        reverse("models_import"),
        {"file": _named(json.dumps({"format": "hf-model-console/models", "models": [entry(endpoint_type=huge)]}))},
    )
    errors = response.context["errors"]
    assert len(errors) == 1 and len(errors[0]) < 400
    assert len(response.content) < 100_000


def test_a_file_wrong_everywhere_is_not_echoed_back_whole(admin_client):
    errors = import_file(admin_client, [entry(display_name=f"m{i}", top_k=True) for i in range(80)])
    assert len(errors) == 51 and errors[-1] == "… and 30 more errors."


def _named(text):
    upload = io.BytesIO(text.encode())
    upload.name = "models.json"
    return upload


def test_the_import_command_validates_the_same_way(tmp_path, settings):
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"format": "hf-model-console/models", "models": [entry(stop_sequences=5)]}))
    with pytest.raises(CommandError, match="field “stop_sequences”: must be a list of texts"):
        call_command("import_models", str(path))
    path.write_text("[" * 100_000)
    with pytest.raises(CommandError, match="nests too deeply"):
        call_command("import_models", str(path))
    assert not HFModel.objects.exists()
