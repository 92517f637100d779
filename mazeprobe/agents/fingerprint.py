"""A network's fingerprint: the few numbers that place a checkpoint beside the published network.

`mazeprobe fingerprint CHECKPOINT` measures them with the run engine on fixed decision-square test mazes
(mazeprobe.experiments.fingerprint) and the statistics layer (mazeprobe.stats.fingerprint); `--save`
keeps them beside the checkpoint as NAME.fingerprint.json, which the model card and the report read back
through `read_fingerprint`. This module owns the measure names (an interface: other code reads them), the
published network's values with their sources, and the file; it sits below training and experiments so
that both can read it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from mazeprobe.atomic import write_bytes
from mazeprobe.errors import UsageError
from mazeprobe.provenance import file_sha256, sha256_if_present

PUBLISHED_NETWORK = "maze_I/model_rand_region_5.pth (Langosco et al. 2022; analysed by Turner et al. 2023)"

MEASURES: dict[str, str] = {
    "median_p_cheese_at_dsq": "median P(cheese) at the decision square",
    "mean_p_cheese_at_dsq": "mean P(cheese) at the decision square",
    "median_p_top_right_at_dsq": "median P(top-right) at the decision square",
    "mean_p_top_right_at_dsq": "mean P(top-right) at the decision square",
    "got_cheese_dsq_test": "got the cheese (sampled actions, 256 steps)",
    "entered_top_right_5x5_without_cheese": "entered the top-right 5x5 without the cheese",
    "median_p_cheese_at_dsq_cheese_vector": "median P(cheese) at the decision square, cheese vector -1",
    "mean_p_cheese_at_dsq_cheese_vector": "mean P(cheese) at the decision square, cheese vector -1",
}
"""name -> what it is, in the order tables show them. Every measure is {value, ci_low, ci_high}."""

RATES = ("got_cheese_dsq_test", "entered_top_right_5x5_without_cheese")
"""The measures that are rates over episodes (Wilson intervals); the others are medians and means of
per-maze probabilities (percentile bootstrap over mazes)."""

_TURNER_0311 = (
    'Turner et al. 2023, "Understanding and controlling a maze-solving policy network", LessWrong '
    "2023-03-11, seeds 0-99 with a decision square"
)
_NOTEBOOK = "derived from the plot data in procgen-tools experiments/cheese_vector.ipynb"

PUBLISHED_FINGERPRINT: dict[str, dict] = {
    "median_p_cheese_at_dsq": {"value": 0.81, "source": _TURNER_0311},
    "mean_p_cheese_at_dsq": {"value": 0.619, "source": _NOTEBOOK},
    "median_p_top_right_at_dsq": {"value": 0.034, "source": _NOTEBOOK},
    "mean_p_top_right_at_dsq": {"value": 0.229, "source": _NOTEBOOK},
    "got_cheese_dsq_test": {
        "value": 0.714,
        "source": '"Behavioural statistics for a maze-solving agent", LessWrong 2023-04-20: 5,239 of '
        "10,000 levels with a decision square and no cheese in the top-right 5x5, baseline accuracy "
        "71.4% (the 2023-03-11 post gives 69.1% on held-out decision-square mazes)",
    },
    "entered_top_right_5x5_without_cheese": {"value": None, "source": "not published"},
    "median_p_cheese_at_dsq_cheese_vector": {
        "value": 0.03,
        "source": "the 2023-03-11 post: median P(cheese | DS) falls from 0.81 to 0.03 when the cheese "
        "vector is subtracted",
    },
    "mean_p_cheese_at_dsq_cheese_vector": {"value": 0.093, "source": _NOTEBOOK},
}
"""The published network's fingerprint (PUBLISHED_NETWORK), each value with where it comes from; None
where nothing was published."""


def fingerprint_path(checkpoint: str | os.PathLike) -> Path:
    """The saved fingerprint beside a checkpoint: NAME.pth -> NAME.fingerprint.json."""
    return Path(checkpoint).with_suffix(".fingerprint.json")


def write_fingerprint(
    checkpoint: str | os.PathLike, document: dict, folder: str | os.PathLike | None = None
) -> Path:
    """Save a fingerprint document beside its checkpoint, or as NAME.fingerprint.json in `folder` (a study
    of a checkpoint someone else holds), atomically; it must record the sha256 of the checkpoint as it is
    now, or a reader would drop it at once."""
    now = file_sha256(checkpoint)
    if document.get("sha256") != now:
        raise UsageError(
            f"{checkpoint}: the fingerprint is of sha256 {str(document.get('sha256'))[:12]}, the file is now "
            f"{now[:12]}; measure it again"
        )
    path = fingerprint_path(checkpoint)
    if folder is not None:
        path = Path(folder) / path.name
    write_bytes(path, (json.dumps(document, indent=1, allow_nan=False) + "\n").encode())
    return path


def read_fingerprint(checkpoint: str | os.PathLike) -> dict | None:
    """The saved fingerprint of a checkpoint, or None when there is none or it was measured on other
    bytes (the checkpoint was retrained or replaced since: its numbers no longer describe it). A file
    that is not a fingerprint is an error naming it, not a silent None."""
    path = fingerprint_path(checkpoint)
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a readable fingerprint ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("measures"), dict) or "sha256" not in doc:
        raise UsageError(f"{path}: not a fingerprint (a JSON object with sha256 and measures)")
    return doc if doc["sha256"] == sha256_if_present(checkpoint) else None


def format_value(value: float | None) -> str:
    """A probability or rate as the tables show it: three decimals, two significant digits below 0.01 (an
    edited P(cheese) of 0.0004 is not 0), '-' for none."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.2g}" if 0 < abs(value) < 0.01 else f"{value:.3f}"


def format_interval(measure: dict) -> str:
    """A measure's interval as '[low, high]' ('-' when it has none)."""
    low, high = measure.get("ci_low"), measure.get("ci_high")
    if low is None or high is None:
        return "-"
    return f"[{format_value(low)}, {format_value(high)}]"


def fingerprint_rows(document: dict) -> list[tuple[str, str, str, str]]:
    """(measure, value, interval, published value) per measure in MEASURES order, formatted: the rows of
    the CLI's table and of the model card's."""
    rows = []
    for name in MEASURES:
        m = document["measures"].get(name) or {}
        published = PUBLISHED_FINGERPRINT[name]["value"]
        rows.append((name, format_value(m.get("value")), format_interval(m), format_value(published)))
    return rows
