"""Settings > Model Providers > Hugging Face: the model form, tokens, conflicts, audit, export/import, the list."""

import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from providers.models import AuditEntry, ConnectionTest, HFModel, ProviderSettings
from tests.conftest import OTHER_TOKEN, TOKEN, create_model
from tests.conftest import model_form_data as data

pytestmark = pytest.mark.django_db


def post_add(client, **overrides):
    return client.post(reverse("model_add"), data(**overrides))


def errors_of(response):
    return response.context["form"].errors


def test_hosted_model_is_created_and_endpoint_url_is_not_stored(admin_client):
    response = post_add(admin_client, endpoint_url="https://ignored.example.org/")
    assert response.status_code == 302
    model = HFModel.objects.get()
    assert (model.endpoint_type, model.task, model.repo_id, model.endpoint_url) == (
        "hosted_api",
        "text2text-generation",
        "google/flan-t5-base",
        "",
    )


@pytest.mark.parametrize(
    "repo",
    [
        "flan-t5-base",
        "google/",
        "/flan",
        "google/flan t5",
        "a/b/c",
        "google/-flan",
        "google/flan--t5",
        "google/flan..t5",
        "google/flan.git",
        "x" * 43 + "/model",
        "google/" + "m" * 97,
        "google/flan-t5-base:groq",
    ],
)
def test_repo_id_follows_hugging_face_rules(admin_client, repo):
    response = post_add(admin_client, repo_id=repo)
    assert response.status_code == 200
    assert "repo_id" in errors_of(response)


def test_inference_providers_take_a_provider_suffix_and_only_chat(admin_client):
    ok = post_add(
        admin_client,
        display_name="llama",
        endpoint_type="inference_providers",
        task="chat",
        repo_id="meta-llama/Llama-3.1-8B-Instruct:cheapest",
    )
    assert ok.status_code == 302
    bad = post_add(
        admin_client,
        display_name="llama2",
        endpoint_type="inference_providers",
        task="text-generation",
        repo_id="meta-llama/Llama-3.1-8B-Instruct",
    )
    assert "task" in errors_of(bad)


def test_hosted_api_has_no_chat_task(admin_client):
    assert "task" in errors_of(post_add(admin_client, task="chat"))


def test_endpoint_needs_a_url_and_any_display_name(admin_client, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["my-endpoint.example.org"]
    missing = post_add(admin_client, endpoint_type="inference_endpoint", repo_id="", task="text-generation")
    assert "endpoint_url" in errors_of(missing)
    ok = post_add(
        admin_client,
        display_name="Our 70B (prod) ✓",
        endpoint_type="inference_endpoint",
        repo_id="",
        task="chat",
        endpoint_url="https://my-endpoint.example.org",
    )
    assert ok.status_code == 302
    assert HFModel.objects.get().endpoint_url == "https://my-endpoint.example.org"


def test_retired_host_is_refused_with_the_router_url(admin_client):
    response = post_add(
        admin_client,
        endpoint_type="inference_endpoint",
        repo_id="",
        task="text-generation",
        endpoint_url="https://api-inference.huggingface.co/models/gpt2",
    )
    message = " ".join(errors_of(response)["endpoint_url"])
    assert "https://router.huggingface.co" in message


def test_internal_endpoint_url_is_refused_when_saving(admin_client):
    response = post_add(
        admin_client,
        endpoint_type="inference_endpoint",
        repo_id="",
        task="text-generation",
        endpoint_url="https://169.254.169.254/",
    )
    assert "internal address" in " ".join(errors_of(response)["endpoint_url"])


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("temperature", "0", "strictly positive"),
        ("top_p", "1.0", "< 1.0"),
        ("top_k", "0", "strictly positive"),
        ("max_new_tokens", "0", "strictly positive"),
        ("repetition_penalty", "-1", "strictly positive"),
        ("stop_sequences", "a\nb\nc\nd\ne", "At most 4"),
        ("temperature", "warm", "number"),
    ],
)
def test_generation_defaults_follow_the_server_rules(admin_client, field, value, message):
    response = post_add(admin_client, **{field: value})
    assert message in " ".join(errors_of(response)[field])


def test_chat_accepts_temperature_zero(admin_client):
    response = post_add(
        admin_client,
        display_name="chat",
        endpoint_type="inference_providers",
        task="chat",
        repo_id="meta-llama/Llama-3.1-8B-Instruct",
        temperature="0",
        top_p="1",
    )
    assert response.status_code == 302


def test_failed_save_keeps_what_was_typed_except_the_token(admin_client):
    response = post_add(
        admin_client, display_name="My typed name", repo_id="bad repo", temperature="0.7", api_token=TOKEN
    )
    html = response.content.decode()
    assert 'value="My typed name"' in html and 'value="bad repo"' in html and 'value="0.7"' in html
    assert TOKEN not in html
    assert 'class="errorlist' in html


def test_display_names_are_unique(admin_client):
    create_model(display_name="Flan")
    assert "display_name" in errors_of(post_add(admin_client, display_name="flan"))


def test_token_is_write_only_masked_kept_replaced_and_cleared(admin_client):
    post_add(admin_client, api_token=TOKEN)
    model = HFModel.objects.get()
    edit = admin_client.get(reverse("model_edit", args=[model.pk])).content.decode()
    assert TOKEN not in edit and f"hf_…{TOKEN[-4:]}" in edit
    form = data(version=model.version)
    admin_client.post(reverse("model_edit", args=[model.pk]), form)
    model.refresh_from_db()
    assert model.get_secret("api_token") == TOKEN  # empty field kept it
    admin_client.post(reverse("model_edit", args=[model.pk]), data(version=model.version, api_token=OTHER_TOKEN))
    model.refresh_from_db()
    assert model.get_secret("api_token") == OTHER_TOKEN
    admin_client.post(reverse("model_edit", args=[model.pk]), data(version=model.version, clear_token="on"))
    model.refresh_from_db()
    assert not model.has_secret("api_token")


def test_provider_token_is_saved_encrypted_and_masked(admin_client):
    response = admin_client.post(reverse("provider_token"), {"api_token": TOKEN}, follow=True)
    html = response.content.decode()
    assert TOKEN not in html and f"hf_…{TOKEN[-4:]}" in html
    assert ProviderSettings.load().get_secret("api_token") == TOKEN
    bad = admin_client.post(reverse("provider_token"), {"api_token": "has a space"}, follow=True)
    assert "without spaces" in bad.content.decode()


def test_second_concurrent_edit_gets_a_conflict(admin_client, client, admin_user):
    model = create_model()
    stale_version = model.version
    first = admin_client.post(
        reverse("model_edit", args=[model.pk]), data(version=stale_version, repo_id="google/flan-t5-large")
    )
    assert first.status_code == 302
    second = admin_client.post(
        reverse("model_edit", args=[model.pk]), data(version=stale_version, repo_id="google/flan-t5-small")
    )
    assert second.status_code == 200
    assert "changed by someone else" in second.content.decode()
    assert reverse("model_edit", args=[model.pk]) in second.content.decode()  # the reload link
    model.refresh_from_db()
    assert model.repo_id == "google/flan-t5-large"


def test_enable_disable_and_delete_with_confirmation(admin_client):
    model = create_model()
    admin_client.post(reverse("model_toggle", args=[model.pk]))
    model.refresh_from_db()
    assert model.enabled is False
    admin_client.post(reverse("model_toggle", args=[model.pk]))
    model.refresh_from_db()
    assert model.enabled is True
    confirm = admin_client.get(reverse("model_delete", args=[model.pk]))
    assert confirm.status_code == 200 and HFModel.objects.exists()
    admin_client.post(reverse("model_delete", args=[model.pk]))
    assert not HFModel.objects.exists()


def test_audit_entries_say_who_what_where_and_never_the_token(admin_client):
    post_add(admin_client, api_token=TOKEN)
    model = HFModel.objects.get()
    admin_client.post(
        reverse("model_edit", args=[model.pk]),
        data(version=model.version, repo_id="google/flan-t5-large", api_token=OTHER_TOKEN),
    )
    admin_client.post(reverse("model_toggle", args=[model.pk]))
    admin_client.post(reverse("provider_token"), {"api_token": TOKEN})
    admin_client.post(reverse("model_delete", args=[model.pk]))
    actions = list(AuditEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == [
        "model.create",
        "model.update",
        "model.token_replaced",
        "model.disable",
        "provider.token_replaced",
        "model.delete",
    ]
    update = AuditEntry.objects.get(action="model.update")
    assert update.changes["repo_id"] == {"from": "google/flan-t5-base", "to": "google/flan-t5-large"}
    assert update.changes["api_token"] == "token replaced"
    assert update.actor_name == "ada" and update.ip == "127.0.0.1"
    everything = json.dumps(list(AuditEntry.objects.values()), default=str)
    assert TOKEN not in everything and OTHER_TOKEN not in everything
    page = admin_client.get(reverse("audit_log"), {"action": "model.update"}).content.decode()
    assert "google/flan-t5-large" in page and 'data-action="provider.token_replaced"' not in page


def test_export_import_round_trip_without_secrets(admin_client, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["ep.example.org"]
    create_model(display_name="flan", token=TOKEN, temperature=0.5, stop_sequences=["###"])
    create_model(
        display_name="ep",
        endpoint_type="inference_endpoint",
        repo_id="",
        task="chat",
        endpoint_url="https://ep.example.org",
    )
    exported = admin_client.get(reverse("models_export"))
    assert exported["Content-Disposition"].startswith("attachment")
    text = exported.content.decode()
    assert TOKEN not in text and "api_token" not in text
    payload = json.loads(text)
    HFModel.objects.filter(display_name="ep").delete()
    payload["models"][1]["temperature"] = 0.9  # flan: changed
    upload = io.BytesIO(json.dumps(payload).encode())
    upload.name = "models.json"
    page = admin_client.post(reverse("models_import"), {"file": upload}).content.decode()
    assert "Created:" in page
    report = page[page.index("import-report") :]
    assert "ep" in report and "flan" in report
    assert HFModel.objects.get(display_name="flan").temperature == 0.9
    assert HFModel.objects.get(display_name="flan").get_secret("api_token") == TOKEN  # kept
    again = io.BytesIO(json.dumps(payload).encode())
    again.name = "models.json"
    page = admin_client.post(reverse("models_import"), {"file": again}).content.decode()
    assert "Skipped (unchanged): 2" in page


def test_import_never_half_applies(admin_client):
    payload = {
        "format": "hf-model-console/models",
        "version": 1,
        "models": [
            {"display_name": "good", "endpoint_type": "hosted_api", "task": "text-generation", "repo_id": "gpt2/gpt2"},
            {"display_name": "bad", "endpoint_type": "hosted_api", "task": "text-generation", "repo_id": "no good"},
        ],
    }
    upload = io.BytesIO(json.dumps(payload).encode())
    upload.name = "m.json"
    page = admin_client.post(reverse("models_import"), {"file": upload}).content.decode()
    assert "Nothing was imported" in page and "repo_id" in page
    assert not HFModel.objects.exists()
    junk = io.BytesIO(b"{not json")
    junk.name = "m.json"
    assert "not valid JSON" in admin_client.post(reverse("models_import"), {"file": junk}).content.decode()


def test_model_list_uses_a_constant_number_of_queries(admin_client, admin_user):
    def count_queries():
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(reverse("huggingface")).status_code == 200
        return len(ctx.captured_queries)

    for i in range(3):
        m = create_model(display_name=f"m{i:03d}")
        ConnectionTest.objects.create(model=m, ok=True)
    count_queries()  # the first visit creates the provider row
    few = count_queries()
    for i in range(3, 120):
        create_model(display_name=f"m{i:03d}")
    many = count_queries()
    assert many == few, connection.queries
    page2 = admin_client.get(reverse("huggingface"), {"page": 3}).content.decode()
    assert "m119" in page2
    filtered = admin_client.get(reverse("huggingface"), {"q": "m07"}).content.decode()
    assert "m070" in filtered and "m100" not in filtered


def test_provider_card_shows_count_and_health(admin_client):
    ok = create_model(display_name="a")
    bad = create_model(display_name="b")
    create_model(display_name="c")
    for model, passed in ((ok, True), (bad, False)):
        entry = ConnectionTest.objects.create(model=model, ok=passed, category="" if passed else "timeout")
        HFModel.objects.filter(pk=model.pk).update(last_test=entry)
    html = admin_client.get(reverse("provider_list")).content.decode()
    assert "3 models configured" in html
    assert "1 ok" in html and "1 failing" in html and "1 never tested" in html
