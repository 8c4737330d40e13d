"""An admin marks an endpoint model as taking images in chat: the mark is saved, shown on the model's page, and
carried by export and import."""

import json

import pytest
from django.urls import reverse

from providers.models import HFModel
from tests.conftest import model_form_data as data

pytestmark = pytest.mark.django_db


def endpoint_form(hf, **overrides):
    return data(
        display_name="vlm",
        endpoint_type="inference_endpoint",
        task="chat",
        repo_id="",
        endpoint_url=hf.base + "/ep/tgi",
        **overrides,
    )


def test_an_admin_marks_an_endpoint_model_as_reading_images(admin_client, hf):
    response = admin_client.post(reverse("model_add"), endpoint_form(hf, accepts_images="on"))
    assert response.status_code == 302, response.context["form"].errors
    model = HFModel.objects.get()
    assert model.accepts_images is True
    page = admin_client.get(reverse("model_detail", args=[model.pk])).content.decode()
    assert 'id="vision-mark"' in page
    exported = admin_client.get(reverse("models_export"))
    body = b"".join(exported.streaming_content) if exported.streaming else exported.content
    entry = json.loads(body)["models"][0]
    assert entry["accepts_images"] is True


def test_an_unmarked_model_shows_no_vision_mark(admin_client, hf):
    admin_client.post(reverse("model_add"), endpoint_form(hf))
    model = HFModel.objects.get()
    assert model.accepts_images is False
    assert 'id="vision-mark"' not in admin_client.get(reverse("model_detail", args=[model.pk])).content.decode()
