"""A generation is sent at once and, closed before its first item, frees its upstream connection."""

import pytest

from providers.huggingface.generation import Target, generate
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db


def test_a_generation_closed_before_its_first_item_frees_the_upstream(faulty):
    target = Target("inference_endpoint", "text-generation", endpoint_url=f"{faulty.base}/silent_start")
    generation = generate(target, {}, prompt="hi", stream=True)
    assert wait_for(lambda: len(faulty.opened("silent_start")) == 1, 1)  # sent at once, not at the first next()
    generation.close()
    assert wait_for(lambda: len(faulty.closed("silent_start")) == 1, 1), faulty.connections
