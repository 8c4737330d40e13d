"""A posted run is checked exactly as the page's form checks it, in the language of each request."""

import pytest

from providers.models import HFModel

pytestmark = pytest.mark.django_db


POSTS = [
    {"prompt": "Why is the sky blue", "max_new_tokens": "8", "temperature": "0.7", "stream": "on"},
    {"prompt": ""},
    {"prompt": "x", "temperature": "-1", "top_k": "0", "top_p": "1.5", "max_new_tokens": "0"},
    {"prompt": "x", "max_new_tokens": "not a number", "seed": "-3", "repetition_penalty": "1e400"},
    {"prompt": "x", "stop_sequences": "a\nb\nc\nd\ne"},
    {"prompt": "nul \x00 here"},
    {"prompt": "", "messages": '[{"role": "user", "content": "hi"}]', "system": "Be brief."},
    {"prompt": "again", "messages": '[{"role": "robot", "content": 1}]'},
    {"prompt": "x", "messages": "[" * 5000 + "]" * 5000},
    {"prompt": "x", "conversation": "not-a-uuid", "do_sample": "on", "return_full_text": "on"},
]


@pytest.mark.parametrize("model_field", ["text", "chat", "", "abc", "999", " 1 "])
@pytest.mark.parametrize("post", POSTS)
def test_a_posted_run_is_checked_exactly_as_the_page_form_checks_it(endpoint_model, chat_model, model_field, post):
    from django.http import QueryDict

    from providers.playground.forms import PlaygroundForm, PostedRunForm

    lookup = {endpoint_model.pk: endpoint_model, chat_model.pk: chat_model}
    model = {"text": str(endpoint_model.pk), "chat": str(chat_model.pk)}.get(model_field, model_field)
    data = QueryDict(mutable=True)
    data.update({**post, "model": model})
    page, posted = PlaygroundForm(data, models=HFModel.objects.filter(pk__in=lookup)), PostedRunForm(data, lookup)
    assert posted.is_valid() == page.is_valid()
    assert posted.errors.get_json_data() == page.errors.get_json_data()
    if page.is_valid():
        assert posted.cleaned_data == page.cleaned_data
        assert posted.parameters() == page.parameters()
        if page.cleaned_data["model"].is_chat:
            assert posted.chat_messages() == page.chat_messages()


def test_the_shared_fields_answer_in_each_requests_language(endpoint_model):
    from django.http import QueryDict
    from django.utils import translation

    from providers.playground.forms import PlaygroundForm, PostedRunForm

    lookup = {endpoint_model.pk: endpoint_model}
    data = QueryDict(mutable=True)
    data.update({"model": str(endpoint_model.pk), "prompt": "", "top_k": "0", "temperature": "abc"})
    with translation.override("en"):
        english = PostedRunForm(data, lookup).errors.get_json_data()  # the shared fields are built here, or before
    with translation.override("zh-hans"):
        chinese = PostedRunForm(data, lookup).errors.get_json_data()
        assert chinese == PlaygroundForm(data, models=HFModel.objects.filter(pk__in=lookup)).errors.get_json_data()
    assert chinese != english and set(chinese) == set(english) == {"prompt", "top_k", "temperature"}
