"""Numbers read from an upstream's answer, which may hold anything JSON allows (and Python's json also reads
Infinity and NaN): a count is a finite, non-negative whole number, or None."""

import math

LARGEST = 2**31 - 1  # any real count fits; larger ones would not fit the integer columns they are stored in


def _finite(value):
    """A float from 0 to LARGEST from an int, a float or a numeric string; None for anything else (True is no
    number here, though Python counts it as 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and 0 <= number <= LARGEST else None


def count(value):
    """A finite whole number from 0 to LARGEST from an int, a float or a numeric string; None for anything else."""
    number = _finite(value)
    return None if number is None else int(number)


def seconds(value):
    """A finite, non-negative number of seconds (estimated load times may be fractional), or None."""
    return _finite(value)
