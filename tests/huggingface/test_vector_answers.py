"""An embeddings answer is read as one vector of finite numbers per input, or refused as a bad response."""

import base64
import json

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


def _passed(content, encoding="float", texts=("a", "b")):
    from providers.huggingface.adapters import openai

    return openai.ADAPTER.passed_on(content, list(texts), encoding, "mine", dimensions=None)


@pytest.mark.parametrize(
    "content",
    [
        b'{"model":"m","data":[{"object":"embedding","index":0,"embedding":[0.5, -1e-05]},'
        b'{"index":1,"embedding":[2E3,\n 4]}],"usage":{"prompt_tokens":3}}',
        b'{"object":"list","data":[{"index":0,"embedding":[0.5]},{"object":"embedding","index":1,"embedding":[1]}],'
        b'"model":"m \\"embedding\\": [9]","usage":{"prompt_tokens":3}}',
    ],
)
def test_a_float_answer_in_order_is_passed_on_with_the_console_model_name(content):
    named, tokens, _lengths = _passed(content)
    assert tokens == 3
    assert json.loads(named)["model"] == "mine"
    assert named.replace(b'"model": "mine"', b"") == _without_model(content)


def _without_model(content):
    import re

    return re.sub(rb'"model":"(?:[^"\\]|\\.)*"', b"", content)


@pytest.mark.parametrize(
    "vectors",
    [
        ("AAAAAAAAAAA=", "AAAAAAAAAAAAAAAA"),  # 8 bytes (padded) and 12 bytes: whole float32s
        ("AAAAAAAAAAAAAAAAAAAAAA==", "AACAPw=="),
    ],
)
def test_a_base64_answer_of_whole_float32s_is_passed_on_with_its_lengths(vectors):
    items = ",".join(f'{{"index":{i},"embedding":"{v}"}}' for i, v in enumerate(vectors))
    content = f'{{"data":[{items}],"model":"m"}}'.encode()
    named, tokens, lengths = _passed(content, "base64")
    assert tokens is None and lengths == [len(base64.b64decode(v)) // 4 for v in vectors]
    assert json.loads(named)["model"] == "mine"


@pytest.mark.parametrize(
    "content, encoding",
    [
        (b'{"model":"m","data":[{"index":0,"embedding":[0.5, NaN]},{"index":1,"embedding":[1]}]}', "float"),
        (b'{"model":"m","data":[{"index":0,"embedding":[0.5,Infinity]},{"index":1,"embedding":[1]}]}', "float"),
        (b'{"model":"m","data":[{"index":0,"embedding":[[0.5],[1]]},{"index":1,"embedding":[1]}]}', "float"),
        (b'{"model":"m","data":[{"index":0,"embedding":[0.5,"1"]},{"index":1,"embedding":[1]}]}', "float"),
        (b'{"model":"m","data":[{"index":0,"embedding":[0.5,null]},{"index":1,"embedding":[1]}]}', "float"),
        (b'{"model":"m","data":[{"index":0,"embedding":[ ]},{"index":1,"embedding":[1]}]}', "float"),
        (b'{"model":"m","data":[{"index":1,"embedding":[0.5]},{"index":0,"embedding":[1]}]}', "float"),
        (b'{"model":"m","data":[{"index":0,"embedding":[0.5]}]}', "float"),  # one vector for two texts
        (b'{"data":[{"index":0,"embedding":[0.5]},{"index":1,"embedding":[1]}]}', "float"),  # no model
        (b'{"model":"m","data":[{"index":0,"model":"x","embedding":[0.5]},{"index":1,"embedding":[1]}]}', "float"),
        (b'{"model":"m","data":[{"index":0,"embedding":"AAAAAAAAAAA="},{"index":1,"embedding":[1]}]}', "float"),
        (b'{"model":"m","data":[{"index":0,"embedding":"AA=AAAAAAAA="},{"index":1,"embedding":"AAAA"}]}', "base64"),
        (b'{"model":"m","data":[{"index":0,"embedding":"AAA*"},{"index":1,"embedding":"AAAA"}]}', "base64"),
        (b'{"model":"m","data":[{"index":0,"embedding":"AAA="},{"index":1,"embedding":"AAAAAA"}]}', "base64"),
        (b'{"model":"m","data":[{"index":0,"embedding":""},{"index":1,"embedding":"AAAAAA"}]}', "base64"),
        (b'{"model":"m","data":[{"index":0,"embedding":[0.5]},{"index":1,"embedding":[1]}]}', "base64"),
    ],
)
def test_an_answer_the_console_cannot_vouch_for_as_written_is_read_again(content, encoding):
    assert _passed(content, encoding) is None


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_checking_a_large_answer_makes_no_copy_of_it_but_the_answer_passed_on(encoding):
    """The checks go vector by vector and the new answer is made in one copy: a buffer of the whole answer's size
    comes as fresh pages from the system each call (over a hundred page faults for 64 vectors of 384 numbers)."""
    import tracemalloc

    texts = [f"text {i}" for i in range(64)]
    if encoding == "float":
        vector = "[" + ", ".join(f"{0.001 * k - 0.19:.9f}" for k in range(384)) + "]"
    else:
        vector = '"' + base64.b64encode(bytes(range(256)) * 6).decode() + '"'
    items = ", ".join(f'{{"object": "embedding", "index": {i}, "embedding": {vector}}}' for i in range(64))
    content = f'{{"object": "list", "data": [{items}], "model": "m", "usage": {{"prompt_tokens": 128}}}}'.encode()
    tracemalloc.start()
    try:
        passed = _passed(content, encoding, texts)
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert passed is not None and json.loads(passed[0])["model"] == "mine"
    assert peak < len(content) + 65536, f"{peak} bytes at the peak for an answer of {len(content)}"
