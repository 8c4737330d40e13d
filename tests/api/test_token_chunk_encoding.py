"""A stream's per-token /v1/ chunk and the API's shared parameter checks give exactly what the general code gives."""

import json

import pytest
from django import forms
from django.utils import translation

from providers.api import openai_format as fmt
from providers.core.parameters import parameter_fields

TEXTS = ["a", " the", 'say "hi"', "back\\slash", "tab\there\nnew", "\x00\x1f", "é 日本 🙂", "\u2028", "\ufffd", "}{"]


@pytest.mark.parametrize("route", ["chat", "completions"])
@pytest.mark.parametrize("include_usage", [False, True])
def test_a_token_chunk_is_the_general_chunk(route, include_usage, monkeypatch):
    now = [1_700_000_000.2]
    monkeypatch.setattr(fmt.time, "time", lambda: now[0])
    chunks = fmt.TokenChunks(route, "cmpl-abc", "my-model", include_usage)
    for text in TEXTS + ["\ud83d"]:  # a lone surrogate stays an ASCII escape, as sse() writes it
        expected = fmt.sse(fmt.chunk(route, "cmpl-abc", "my-model", text, include_usage=include_usage))
        assert chunks(text) == expected
    now[0] += 1.5  # `created` follows the clock, as the general chunk's does
    expected = fmt.sse(fmt.chunk(route, "cmpl-abc", "my-model", "x", include_usage=include_usage))
    assert chunks("x") == expected and b'"created": 1700000001' in expected


def test_a_model_id_with_the_placeholder_falls_back_to_the_general_chunk():
    chunks = fmt.TokenChunks("completions", "cmpl-abc", "odd\x00id", False)
    assert json.loads(chunks("x")[6:])["model"] == "odd\x00id"
    assert json.loads(chunks("x")[6:])["choices"][0]["text"] == "x"


class _FormAsBefore(forms.Form):
    """The API's parameter form as it was (a form per call), to hold the shared fields to its verdicts."""

    seed = forms.IntegerField(required=False, min_value=0, max_value=2**63 - 1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(parameter_fields())


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"max_new_tokens": 8},
        {"max_new_tokens": 8, "temperature": 0.7, "top_p": 0.9, "top_k": 5, "seed": 3, "stop_sequences": ["\n", "x"]},
        {"max_new_tokens": 0},
        {"max_new_tokens": 10**9},
        {"temperature": -1, "top_k": 0},  # two errors: the first field's is reported
        {"seed": -1, "max_new_tokens": 0},
        {"top_k": 2.5},
        {"stop_sequences": ["a", "b", "c", "d", "e"]},
        {"stop_sequences": ["a", 1]},
        {"repetition_penalty": 0},
    ],
)
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_shared_parameter_fields_judge_as_a_form_did(data, language):
    with translation.override(language):
        form = _FormAsBefore(data)
        cleaned, problem = fmt._clean(data)
        if form.is_valid():
            assert problem is None and cleaned == form.cleaned_data
        else:
            field, errors = next(iter(form.errors.items()))
            assert cleaned is None and problem == (field, errors[0])
