"""The SSE parser reads every line end in any framing; an upstream's text loses only its lone surrogates."""

import pytest

from providers.huggingface.generation import clean_text
from providers.huggingface.sse import DONE, SSEParser

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
    assert clean_text(given) == expected
