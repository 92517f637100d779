"""Checks of arguments given to public functions, with one message template (scikit-learn's):
"<name> must be <what>; got <value>". YAML files are checked by `yamlio.Checker`, which reports the
file, line and key path instead; both use the predicates here, so a value is valid in a file exactly
when it is valid as an argument.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from mazeprobe.errors import UsageError

MAX_NAME_LENGTH = 100
"""The longest name: names become file and folder names (forecasts/<forecaster>.yaml, data/runs/<name>/),
which file systems cap at 255 bytes, the suffix and a temporary name's prefix included."""
NAME_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_NAME_LENGTH - 1}}}")
"""Names of runs, plans, questions, groups and forecasters: a folder name with no ':' (so item ids
such as `forecast:F:Q` split cleanly), at most MAX_NAME_LENGTH characters."""
NAME_HELP = f"at most {MAX_NAME_LENGTH} letters, digits, '.', '_' or '-', starting with a letter or digit"


def name_problem(value: Any) -> str | None:
    """Why `value` is not a name (NAME_PATTERN), with a name too long said as such; None for a name."""
    if isinstance(value, str) and len(value) > MAX_NAME_LENGTH:
        return (
            f"is {len(value)} characters long ({value[:20]}...); a name has at most {MAX_NAME_LENGTH} "
            "(it becomes a file name)"
        )
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        return f"must be {NAME_HELP}; got {value!r}"
    return None


def is_int(value: Any) -> bool:
    """An integer, not a bool (YAML and Python both let True pass as 1)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite real number (not a bool, not NaN or infinite)."""
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and (math.isfinite(value))
    )


def within(
    value: float, low: float | None, high: float | None, closed_low: bool = True, closed_high: bool = True
) -> bool:
    """Whether `value` lies between the bounds (None: no bound), each end included when closed."""
    above = low is None or (value >= low if closed_low else value > low)
    below = high is None or (value <= high if closed_high else value < high)
    return above and below


def int_bounds_text(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"an integer between {low} and {high}"
    if low is not None:
        return f"an integer >= {low}"
    return "an integer" if high is None else f"an integer <= {high}"


def check_int(value: Any, name: str, low: int | None = None, high: int | None = None) -> int:
    """`value` as an int when it is an integer in [low, high]; else UsageError naming `name`."""
    if not is_int(value) or (low is not None and value < low) or (high is not None and value > high):
        raise UsageError(f"{name} must be {int_bounds_text(low, high)}; got {value!r}")
    return int(value)


def check_number(
    value: Any, name: str, low: float | None = None, high: float | None = None, open_low: bool = False
) -> float:
    """A finite number in [low, high] ((low, high] when `open_low`); else UsageError naming `name`."""
    if not (is_number(value) and within(value, low, high, closed_low=not open_low)):
        lo = "" if low is None else (f"> {low:g}" if open_low else f">= {low:g}")
        hi = "" if high is None else f"<= {high:g}"
        what = " and ".join(s for s in (lo, hi) if s)
        raise UsageError(f"{name} must be a finite number{' ' + what if what else ''}; got {value!r}")
    return float(value)


def check_probability(value: Any, name: str, open_interval: bool = False) -> float:
    """A probability in [0, 1], or in (0, 1) when `open_interval` (a forecast: 0 and 1 would give an
    infinite log loss when wrong)."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    inside = 0.0 < number < 1.0 if open_interval else 0.0 <= number <= 1.0
    if not inside:
        what = "strictly between 0 and 1" if open_interval else "in [0, 1]"
        why = " (0 and 1 give an infinite log loss when wrong)" if open_interval and number in (0, 1) else ""
        raise UsageError(f"{name} must be a number {what}; got {value!r}{why}")
    return number


def check_choice(value: Any, name: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise UsageError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def check_name(value: Any, name: str) -> str:
    problem = name_problem(value)
    if problem:
        raise UsageError(f"{name} {problem}")
    return value
