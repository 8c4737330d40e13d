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
