"""Page chrome and words: empty states, error pages with navigation, favicon, dates, no raw values.

Page chrome and words: empty states with a next step, no red "0 failing", error pages with navigation,
a favicon, one date format, no raw codes or Python values in model pages."""

from django.urls import reverse

from providers.models import ConnectionTest, HFModel
from tests.conftest import create_model


def test_empty_console_offers_the_next_step_and_no_red_zero(admin_client):
    providers = admin_client.get(reverse("provider_list")).content.decode()
    assert "0 failing" not in providers and "Set up Hugging Face" in providers
    models = admin_client.get(reverse("huggingface")).content.decode()
    assert "Add your first model" in models


def test_member_without_models_is_told_whom_to_ask(member_client):
    page = member_client.get(reverse("playground")).content.decode()
    assert "Ask an administrator to configure one." in page


def test_error_pages_keep_the_header_and_navigation(member_client):
    forbidden = member_client.get(reverse("huggingface"))
    assert forbidden.status_code == 403
    assert 'class="mainnav"' in forbidden.content.decode() and "No access to this page" in forbidden.content.decode()
    missing = member_client.get("/no-such-page/")
    assert missing.status_code == 404 and 'class="mainnav"' in missing.content.decode()


def test_favicon_is_served(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"


def test_models_table_row_shows_full_endpoint_title_and_one_date_format(admin_client, db):
    endpoint = create_model(
        display_name="tgi", endpoint_type="inference_endpoint", repo_id="", endpoint_url="https://a.example/ep/one"
    )
    test = ConnectionTest.objects.create(model=endpoint, ok=False, category="endpoint_paused")
    HFModel.objects.filter(pk=endpoint.pk).update(last_test=test)
    page = admin_client.get(reverse("huggingface")).content.decode()
    assert "https://a.example/ep/one" in page  # the whole URL, not only the host
    assert "Endpoint paused" in page and ">endpoint_paused<" not in page
    stamp = test.created_at.strftime("%Y-%m-%d %H:%M")
    assert stamp in page and "p.m." not in page and "a.m." not in page
    detail = admin_client.get(reverse("model_detail", args=[endpoint.pk])).content.decode()
    assert stamp in detail


def test_model_detail_shows_parameters_in_words(admin_client, db):
    model = create_model(max_new_tokens=64, temperature=0.7)
    page = admin_client.get(reverse("model_detail", args=[model.pk])).content.decode()
    assert "Max new tokens: 64" in page and "Temperature: 0.7" in page and "max_new_tokens=" not in page


def test_failed_save_says_the_token_must_be_typed_again(admin_client, db):
    from tests.conftest import TOKEN, model_form_data

    response = admin_client.post(reverse("model_add"), model_form_data(repo_id="not a repo", api_token=TOKEN))
    page = response.content.decode()
    assert "Type the token again" in page and TOKEN not in page


def test_server_error_page_renders_without_touching_the_session(rf):
    from providers.core.error_pages import server_error

    response = server_error(rf.get("/boom/"))
    page = response.content.decode()
    assert response.status_code == 500 and "Something went wrong" in page and 'class="mainnav"' not in page


def test_model_form_preselects_a_type_and_words_help_per_type(admin_client):
    page = admin_client.get(reverse("model_add")).content.decode()
    assert 'value="inference_providers" checked' in page
    assert "---------" not in page
    assert page.count('class="help" data-show-for=') == 3  # the repo id help, one per endpoint type
    assert page.count(">API token<") == 1
    assert "https://huggingface.co/settings/tokens" in page
