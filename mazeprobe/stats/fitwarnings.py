"""Warnings met while fitting: recorded per fit, counted over many fits, and phrased one line per kind.

statsmodels and scikit-learn report trouble (no convergence, a Hessian that does not invert, overflow in
exp) through Python's warnings module, which prints each at most once per code line on stderr, and
nothing at all from joblib's worker processes. The models record them instead, so that they reach the
model's `warnings` (result.json and the text summary): one line per kind of warning, with the number of
fits it was met in and its first message, e.g.

    statsmodels ConvergenceWarning in 3 of 412 distinct fits: Maximum Likelihood optimization failed ...
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

Met = tuple[tuple[str, str], ...]
"""The warnings of one fit: (label, first message) for each kind met, in the order first met. A label
names the library whose fit met the warning and its class: "scikit-learn ConvergenceWarning"."""

_MESSAGE_CHARS = 300


@contextmanager
def recording() -> Iterator[list[warnings.WarningMessage]]:
    """Record every warning raised inside the block (printing none), each occurrence, from any code line:
    the default filter would show a warning once per line and so hide it from the fits after the first."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def _one_line(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 3] + "..."


def summarize(caught: Iterable[warnings.WarningMessage], library: str) -> Met:
    """One entry per kind of warning in `caught`, with its first message. `library` is the one whose
    fit was recorded: it is named rather than guessed from the warning, as a RuntimeWarning of numpy
    carries the file of the line that raised it and a UserWarning often that of its caller."""
    first: dict[str, str] = {}
    for w in caught:
        first.setdefault(f"{library} {w.category.__name__}", _one_line(str(w.message)))
    return tuple(first.items())


def join(*mets: Met) -> Met:
    """The warnings of one fit recorded in several parts (the fit, then statistics computed from it)."""
    first: dict[str, str] = {}
    for met in mets:
        for label, message in met:
            first.setdefault(label, message)
    return tuple(first.items())


@dataclass
class WarningTally:
    """Counts of the fits each kind of warning was met in, over `fits` fits. Merged in a fixed order
    (the order of the splits, not of the workers), so the first message does not depend on `jobs`."""

    fits: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, str] = field(default_factory=dict)
    where: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per label, the fits it was met in by run (`merge(..., where=...)`), e.g. {"x alone": 3}."""

    def add(self, met: Met) -> None:
        """One fit and the warnings met in it."""
        self.fits += 1
        for label, message in met:
            self.counts[label] = self.counts.get(label, 0) + 1
            self.first.setdefault(label, message)

    def merge(self, other: WarningTally, where: str = "") -> None:
        """Add the fits of `other`, naming them `where` (a run of the model) when given."""
        self.fits += other.fits
        for label, count in other.counts.items():
            self.counts[label] = self.counts.get(label, 0) + count
            self.first.setdefault(label, other.first[label])
            places = self.where.setdefault(label, {})
            for place, n in [(where, count)] if where else other.where.get(label, {}).items():
                places[place] = places.get(place, 0) + n

    def lines(self, fits: str) -> list[str]:
        """One line per kind of warning; `fits` names what was fitted ("split fits", "distinct fits")."""
        out = []
        for label, count in self.counts.items():
            head = f"{label} while fitting" if self.fits == 1 else f"{label} in {count} of {self.fits} {fits}"
            places = self.where.get(label)
            if places:
                head += " (" + ", ".join(f"{place}: {n}" for place, n in places.items()) + ")"
            out.append(f"{head}: {self.first[label]}")
        return out
