"""The prediction registry: questions, forecasts, their hash-chained lock, resolutions and scoring.

Files live in a predictions directory (`predictions/` in this repository):
`questions.yaml`, `forecasts/<forecaster>.yaml`, `resolutions-manual.yaml` and `registry.lock`.

Trust model. `registry.lock` is a local hash chain: each line holds the hash of the line before it, so
against a trusted head (the hash of its last line, `lock_head`) it proves the order and integrity of
every registration up to that head; on its own it cannot stop a consistent rewrite of its tail or of
the whole file. Publishing the head (a post, a commit message) anchors it: a lock whose chain no longer
contains a published head was rewritten (`verify(anchor=...)`). Git's history of the lock bounds
back-dating: a committed version must stay a prefix of the lock, and a line the commit lacked cannot be
dated before it; within the chain, time may not run backwards. resolve, score and report count only
what the verified lock vouches for (items whose content hashes to their latest registration, automatic
resolutions their run reproduces), and measure lateness from the lock's own resolution events and
registered manual resolutions, never from a run directory's times or a file's `late:` list. Not covered:
a run (or a fit) that is never resolved leaves no trace, and the analysis plans a rule names are not
registered; publish the head before running experiments.
"""

from mazeprobe.registry.items.edit import set_forecast
from mazeprobe.registry.items.load import load_registry, validate_registry
from mazeprobe.registry.items.lock import lock_head, register, registered_at, verify
from mazeprobe.registry.items.model import (
    Forecast,
    Problem,
    Question,
    Registry,
    Resolution,
    item_id_forecast,
    item_id_question,
)
from mazeprobe.registry.items.resolutions import load_resolutions
from mazeprobe.registry.items.yamlcheck import IntegrityError, RegistryError
from mazeprobe.registry.report import CalibrationReport, calibration_report, render_report, write_report
from mazeprobe.registry.report.leaderboard import Leaderboard
from mazeprobe.registry.scoring.scores import score_table
from mazeprobe.registry.scoring.table import forecast_table

__all__ = [
    "CalibrationReport",
    "Forecast",
    "IntegrityError",
    "Leaderboard",
    "Problem",
    "Question",
    "Registry",
    "RegistryError",
    "Resolution",
    "calibration_report",
    "forecast_table",
    "item_id_forecast",
    "item_id_question",
    "load_registry",
    "load_resolutions",
    "lock_head",
    "register",
    "registered_at",
    "render_report",
    "score_table",
    "set_forecast",
    "validate_registry",
    "verify",
    "write_report",
]
