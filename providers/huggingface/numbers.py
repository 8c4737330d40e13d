"""Numbers read from an upstream's answer, which may hold anything JSON allows (and Python's json also reads
Infinity and NaN): a count is a finite, non-negative whole number, or None."""

import math


def count(value):
    """A finite whole number >= 0 from an int, a float or a numeric string; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(number) or number < 0:
        return None
    return int(number)
