"""Values read from JSON that someone else wrote (a host's results, another person's tree): typed or nothing."""

from __future__ import annotations

import math


def number(value: object) -> float | None:
    """``value`` as a float when it is a finite JSON number (not a bool), else None."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except OverflowError:  # an int of hundreds of digits
        return None
    return f if math.isfinite(f) else None


def number_as_is(value: object) -> int | float | None:
    """``value`` itself (an int stays an int) when it is a finite JSON number (not a bool), else None."""
    return value if number(value) is not None else None  # type: ignore[return-value]
