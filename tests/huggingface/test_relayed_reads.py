"""A relayed read goes on unparsed only when it is whole plain events with nothing to rewrite; anything else (a
comment, another field, a split event, CR line ends, a finish, usage, an error, [DONE]) is read event by event."""

import pytest

from providers.huggingface.adapters.openai_relay import Answer

TOKEN = b'data: {"id":"x","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}\n\n'


def started(wants_usage=True):
    answer = Answer("chat", "chatcmpl-1", rewrite=False, wants_usage=wants_usage)
    answer.event(TOKEN[6:-2])  # the first event is read: its id, created and model are kept
    return answer


def test_whole_plain_events_pass_as_they_came():
    assert started().passed(TOKEN * 3) == TOKEN * 3


def test_null_usage_the_caller_did_not_ask_for_is_left_out_of_every_event():
    assert started(wants_usage=False).passed(TOKEN * 2) == TOKEN.replace(b',"usage":null', b"") * 2


@pytest.mark.parametrize(
    "read",
    [
        TOKEN + b": keep-alive\n\n",
        TOKEN + b"event: message\n" + TOKEN,
        TOKEN + TOKEN[:40],  # an event split across reads
        TOKEN + b"\n",
        TOKEN.replace(b"\n\n", b"\r\n\r\n"),
        TOKEN + TOKEN.replace(b'"finish_reason":null', b'"finish_reason":"stop"'),
        TOKEN + TOKEN.replace(b'"usage":null', b'"usage":{"prompt_tokens":1}'),
        TOKEN + b'data: {"error":"overloaded"}\n\n',
        TOKEN + b"data: [DONE]\n\n",
        TOKEN.replace(b"Hi", b"\\ud800"),
    ],
)
def test_a_read_with_anything_to_read_or_rewrite_is_not_passed_whole(read):
    assert started().passed(read) is None


def test_the_first_event_is_always_read():
    answer = Answer("chat", "chatcmpl-1", rewrite=False, wants_usage=True)
    assert answer.passed(TOKEN) is None
