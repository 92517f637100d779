"""The prediction registry: questions, forecasts, their hash-chained lock, resolutions and scoring.

Files live in a predictions directory (`predictions/` in this repository):
`questions.yaml`, `forecasts/<forecaster>.yaml`, `resolutions-manual.yaml` and `registry.lock`.
"""

from mazeprobe.registry.edit import set_forecast
from mazeprobe.registry.load import load_registry, validate_registry
from mazeprobe.registry.lock import register, registered_at, verify
from mazeprobe.registry.model import (
    Forecast,
    Problem,
    Question,
    Registry,
    Resolution,
    item_id_forecast,
    item_id_question,
)
from mazeprobe.registry.report import render_report, write_report
from mazeprobe.registry.resolutions import load_resolutions
from mazeprobe.registry.scoring import score_table
from mazeprobe.registry.table import forecast_table
from mazeprobe.registry.yamlcheck import RegistryError

__all__ = [
    "Forecast",
    "Problem",
    "Question",
    "Registry",
    "RegistryError",
    "Resolution",
    "forecast_table",
    "item_id_forecast",
    "item_id_question",
    "load_registry",
    "load_resolutions",
    "register",
    "registered_at",
    "render_report",
    "score_table",
    "set_forecast",
    "validate_registry",
    "verify",
    "write_report",
]
