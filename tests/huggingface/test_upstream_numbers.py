"""A count an upstream reports is used only when it is a finite, non-negative integer."""

import pytest


@pytest.mark.parametrize(
    "value, expected",
    [(5, 5), (5.7, 5), ("12", 12), (0, 0), (-1, None), (float("inf"), None), (float("nan"), None), ("x", None)]
    + [(True, None), ([1], None), ({"a": 1}, None), (None, None), ("1e999", None), (2**31, None), (1e300, None)],
)
def test_a_count_from_an_upstream_is_finite_and_not_negative(value, expected):
    from providers.huggingface import numbers

    assert numbers.count(value) == expected
