"""A playground token's line is byte for byte the line the general encoder writes."""

import json

import pytest

from providers.playground.runs import line, token_line

TEXTS = ["a", " the", 'say "hi"', "back\\slash", "tab\there\nnew", "\x00\x1f", "é 日本 🙂", "\u2028", "\ufffd", "}{"]


@pytest.mark.parametrize("text", TEXTS)
def test_a_token_line_is_the_general_line(text):
    assert token_line(text) == line({"type": "token", "text": text})
    assert json.loads(token_line(text)) == {"type": "token", "text": text}
