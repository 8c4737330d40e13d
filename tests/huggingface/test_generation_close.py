"""A generation is sent at once and, closed before its first item, frees its upstream connection."""

import pytest

from providers.huggingface.generation import Target, generate
from tests.conftest import open_chat_stream, wait_for

pytestmark = pytest.mark.django_db


def test_a_generation_closed_before_its_first_item_frees_the_upstream(faulty):
    target = Target("inference_endpoint", "text-generation", endpoint_url=f"{faulty.base}/silent_start")
    generation = generate(target, {}, prompt="hi", stream=True)
    assert wait_for(lambda: len(faulty.opened("silent_start")) == 1, 1)  # sent at once, not at the first next()
    generation.close()
    assert wait_for(lambda: len(faulty.closed("silent_start")) == 1, 1), faulty.connections


@pytest.mark.parametrize("take_first", [False, True])
def test_a_relayed_stream_closed_early_frees_the_upstream(faulty, take_first):
    # Read straight from its socket once the helper hands the response over: closing it must still free it,
    # before the response came (the helper's) and after (the consumer's).
    target = Target("inference_endpoint", "chat", endpoint_url=f"{faulty.base}/silent", engine="vllm")
    stream = open_chat_stream(target)
    assert wait_for(lambda: len(faulty.opened("silent")) == 1, 1)
    if take_first:
        assert isinstance(next(i for i in stream if isinstance(i, bytes)), bytes)
        assert stream.reader.reading
    stream.close()
    assert wait_for(lambda: len(faulty.closed("silent")) == 1, 1), faulty.connections
