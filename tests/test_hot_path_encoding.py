"""The per-token shortcuts of the hot path write exactly what the general code writes.

A stream's tokens skip the general encoders (a dict built and dumped per token, a regex pass per token, a
line-end rewrite per read); these tests hold each shortcut to the general path's bytes, over the texts that
make JSON and SSE framing hard: quotes, backslashes, control characters, non-ASCII, surrogates, line ends.
"""

import json

import pytest
from django import forms
from django.utils import translation

from providers.api import openai_format as fmt
from providers.core.parameters import parameter_fields
from providers.huggingface import generation
from providers.huggingface.sse import DONE, SSEParser
from providers.playground.runs import line, token_line

TEXTS = ["a", " the", 'say "hi"', "back\\slash", "tab\there\nnew", "\x00\x1f", "é 日本 🙂", "\u2028", "\ufffd", "}{"]


@pytest.mark.parametrize("text", TEXTS)
def test_a_token_line_is_the_general_line(text):
    assert token_line(text) == line({"type": "token", "text": text})
    assert json.loads(token_line(text)) == {"type": "token", "text": text}


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


STREAM = b'data: {"a": 1}\n\n: keep-alive\n\ndata:{"b": "\xc3\xa9"}\n\nevent: x\ndata: [DONE]\n\n'


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_the_sse_parser_reads_every_line_end_in_any_framing(end, size):
    raw = STREAM.replace(b"\n", end)
    parser, out = SSEParser(1000), []
    for start in range(0, len(raw), size):
        out += parser.feed(raw[start : start + size])
    assert out == ['{"a": 1}', '{"b": "é"}', DONE]


@pytest.mark.parametrize(
    ("given", "expected"),
    [("plain", "plain"), ("é 🙂", "é 🙂"), ("Hi \ud83d", "Hi \ufffd"), ("\udc00x\ud800", "\ufffdx\ufffd"), ("", "")],
)
def test_clean_text_replaces_lone_surrogates_only(given, expected):
    assert generation.clean_text(given) == expected


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
