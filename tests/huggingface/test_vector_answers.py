"""An embeddings answer is read as one vector of finite numbers per input, or refused as a bad response."""

import pytest

from providers.huggingface.adapters.base import vectors
from providers.huggingface.errors import HFError


@pytest.mark.parametrize(
    "answer",
    [
        [[0.1, float("nan")]],
        [[0.1, float("inf")]],
        [[1e308, 1e308]],
        [[0.1, True]],
        [[0.1, "0.2"]],
        [[0.1, [0.2]]],
        [[0.1, None]],
        [[10**400, 1]],
        [[]],
        [None],
        "not a list",
    ],
)
def test_what_is_not_finite_numbers_is_a_bad_response(answer):
    with pytest.raises(HFError) as refused:
        vectors(answer)
    assert refused.value.category == "bad_response"


def test_whole_numbers_are_read_as_floats_and_floats_as_they_came():
    floats = [0.25, -0.5]
    read = vectors([[1, 2], floats])
    assert read == [[1.0, 2.0], floats] and all(type(x) is float for x in read[0])


def _raw(adapter, content):
    import json

    return adapter.raw_vectors(json.loads(content), content)


def test_the_vectors_as_the_server_wrote_them_come_in_the_texts_order():
    from providers.huggingface.adapters import openai, tei

    content = (
        b'{"object":"list","model":"m \\"embedding\\": [9]","data":[\n'
        b'{"index":1,"object":"embedding","embedding": [0.5, -1e-05]},\n'
        b'{"object":"embedding","embedding":[0.25,\n 0.125],"index":0}]}'
    )
    assert _raw(openai.ADAPTER, content) == [b"[0.25,\n 0.125]", b"[0.5, -1e-05]"]
    assert _raw(tei.ADAPTER, b"[[0.1, 0.2],\n[0.3,0.4]]") == [b"[0.1, 0.2]", b"[0.3,0.4]"]


def test_vectors_that_cannot_be_told_apart_for_sure_are_printed_again():
    from providers.huggingface.adapters import openai

    extra = b'{"data":[{"index":0,"embedding":[0.1]}],"embedding":[0.2]}'  # one more array than items
    base64 = b'{"data":[{"index":0,"embedding":"AAAA"}]}'
    assert _raw(openai.ADAPTER, extra) is None and _raw(openai.ADAPTER, base64) is None
