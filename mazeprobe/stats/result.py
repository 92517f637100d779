"""The result of fitting a plan: one JSON document, tidy tables, and a text summary.

    {"plan": "behavioral", "n": 5239, "outcome": "got_cheese",
     "models": {"logit": {"intercept": {...}, "features": {NAME: {"coef", "se", "ci_low", "ci_high", "p",
                                                                   "odds_ratio", ...}}, "pseudo_r2", ...},
                "l1-logit": {"accuracy_mean", "accuracy_sd", "auc_mean", "baseline_accuracy",
                             "features": {NAME: {"coef_mean", ...}}},
                "sign-stability": {"features": {NAME: {"flip_rate", ...}}},
                "vif": {"features": {NAME: {"vif"}}, "correlation": {NAME: {NAME: r}}},
                "rate": {"rate", "ci_low", "ci_high", "n", ...}}}

Every model has `warnings`: lines for people, those of statsmodels and scikit-learn met while fitting
included ("scikit-learn ConvergenceWarning in 3 of 100 split fits: ..."). The models that check which
coefficients are identified (logit, sign-stability) also write

    "aliased_with": {FEATURE: [PARTNER, ...]}

each feature that is an exact linear combination of features listed before it in the plan (on the
analysed rows), with the kept features it combines; {} when there is none. A logit leaves such a feature
out (its row has "aliased": true and null numbers). Programs read this key, never the warnings' wording.

Non-finite numbers are written as null (and named in the model's warnings).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from mazeprobe.atomic import atomic_path, write_bytes, write_parquet
from mazeprobe.errors import UsageError
from mazeprobe.stats.kinds import KIND_REGISTRY
from mazeprobe.stats.modelfits import ModelResult
from mazeprobe.stats.planspec import AnalysisPlan

OUTPUT_FORMATS = ("json", "parquet", "csv", "text")


def _plain(value):
    """A JSON-ready value: numpy scalars to Python, NaN and inf to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _model_json(m: ModelResult) -> dict:
    out = {"kind": m.kind, **m.stats}
    if m.intercept is not None:
        out["intercept"] = m.intercept
    out["features"] = {name: row.to_dict() for name, row in m.table.iterrows()}
    for name, frame in m.extra.items():
        out[name] = {i: row.to_dict() for i, row in frame.iterrows()}
    if m.aliased is not None:
        out["aliased_with"] = m.aliased
    out["warnings"] = list(m.warnings)
    out["seconds"] = round(m.seconds, 3)
    return out


@dataclass
class FitResult:
    plan: AnalysisPlan
    n: int
    """Rows analysed (episodes; mazes for a probability outcome)."""
    n_mazes: int
    outcome_kind: str
    outcome_mean: float
    counts: dict[str, int]
    standardization: dict[str, dict[str, float]] | None
    """Mean and sd (ddof=1) of each feature on the analysed rows, when z-scored."""
    models: dict[str, ModelResult]
    input: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def outcome(self) -> str:
        return self.plan.outcome

    # --- display ---------------------------------------------------------------------------------

    def __repr__(self) -> str:
        models = ", ".join(self.models) or "no models"
        return (
            f"FitResult(plan {self.plan.name!r}: {self.outcome} ~ {len(self.plan.features)} features, "
            f"n = {self.n}, {self.n_mazes} mazes; {models})"
        )

    def _repr_html_(self) -> str:
        """What a notebook shows: the plan, the sample, each model's table (mazeprobe.stats.resultdisplay)."""
        from mazeprobe.stats.resultdisplay import fit_html

        return fit_html(self)

    # --- JSON ------------------------------------------------------------------------------------

    def to_json(self) -> dict:
        """The result document as plain Python values (json.dumps-able; NaN/inf become None)."""
        doc = {
            "plan": self.plan.name,
            "plan_hash": self.plan.hash,
            "plan_file": self.plan.source,
            "n": self.n,
            "n_mazes": self.n_mazes,
            "outcome": self.outcome,
            "outcome_kind": self.outcome_kind,
            "outcome_mean": self.outcome_mean,
            "features": list(self.plan.features),
            "standardize": self.plan.standardize,
            "standardization": self.standardization,
            "filter": [{"column": f.column, "op": f.op, "value": f.value} for f in self.plan.filter],
            "seed": self.plan.seed,
            "max_vif": self.plan.max_vif,
            "counts": self.counts,
            "input": self.input,
            "warnings": self.warnings,
            "versions": self.versions,
            "seconds": round(self.seconds, 3),
            "models": {key: _model_json(m) for key, m in self.models.items()},
        }
        return _plain(doc)

    def json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n"

    # --- tidy tables -----------------------------------------------------------------------------

    def tidy(self) -> pd.DataFrame:
        """One row per model x term x statistic (term: a feature, "(intercept)" or "(model)");
        numeric statistics only (settings such as cov_type stay in the JSON)."""
        rows = []
        for key, m in self.models.items():
            for stat, value in m.stats.items():
                if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                    rows.append((key, m.kind, "(model)", stat, float(value)))
            for stat, value in (m.intercept or {}).items():
                rows.append((key, m.kind, "(intercept)", stat, float(value)))
            for feat, row in m.table.iterrows():
                for stat, value in row.items():
                    rows.append((key, m.kind, feat, stat, float(value)))
        frame = pd.DataFrame(rows, columns=["model", "kind", "term", "statistic", "value"])
        frame.insert(0, "plan", self.plan.name)
        return frame

    def correlation(self) -> pd.DataFrame | None:
        """The correlation matrix of the features (from a vif model), or None."""
        for m in self.models.values():
            if "correlation" in m.extra:
                return m.extra["correlation"]
        return None

    # --- text ------------------------------------------------------------------------------------

    def summary_text(self) -> str:
        p = self.plan
        what = "z-scored" if p.standardize else "raw units"
        unit = "mazes" if self.outcome_kind == "fraction" else f"rows ({self.n_mazes} mazes)"
        rate = "mean" if self.outcome_kind == "fraction" else "rate"
        lines = [
            f"plan {p.name}: {p.outcome} ~ {len(p.features)} features ({what}); n = {self.n} {unit}; "
            f"{p.outcome} {rate} {self.outcome_mean:.3f}",
        ]
        filt = ", ".join(f"{f.column} {_op(f)}" for f in p.filter) or "none"
        c = self.counts
        lines.append(
            f"filter: {filt}; {c['input_rows']} rows in, {c['filtered_out']} filtered out, "
            f"{c.get('null_outcome', 0) + c.get('null_feature', 0)} dropped for nulls"
            + (f", {c['deduplicated']} repeated rows of a maze merged" if c.get("deduplicated") else "")
        )
        if self.input.get("path"):
            lines.append(f"input: {self.input['path']}")
        for w in self.warnings:
            lines.append(f"WARNING: {w}")
        for key, m in self.models.items():
            lines.append("")
            lines.extend(KIND_REGISTRY[m.kind].summary(key, m))
            lines.extend(f"  WARNING: {w}" for w in m.warnings)
        return "\n".join(lines) + "\n"


def _op(f) -> str:
    if f.op == "eq":
        return f"= {json.dumps(f.value)}"
    if f.op == "in":
        return f"in {json.dumps(list(f.value))}"
    lo, hi = f.value
    return f"in [{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"


# --- files ---------------------------------------------------------------------------------------


def _formats(format: str | Iterable[str]) -> list[str]:
    if isinstance(format, str):
        wanted = (
            list(OUTPUT_FORMATS) if format == "all" else [x.strip() for x in format.split(",") if x.strip()]
        )
    else:
        wanted = list(format)
    bad = [f for f in wanted if f not in OUTPUT_FORMATS]
    if bad or not wanted:
        raise UsageError(
            f"output format must be all or a comma-separated list of {', '.join(OUTPUT_FORMATS)}; "
            f"got {format!r}"
        )
    return wanted


def _write_parquet(frame: pd.DataFrame, path: Path, index: bool = False) -> None:
    write_parquet(pa.Table.from_pandas(frame, preserve_index=index), path)


def _write_csv(frame: pd.DataFrame, path: Path, index: bool = False) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=index)


def write_outputs(
    result: FitResult, out_dir: str | os.PathLike, format: str | Iterable[str] = "all"
) -> list[Path]:
    """Write the result into `out_dir` (created if needed), each file atomically; returns the paths.

    json: result.json; parquet / csv: stats.* (the tidy table) and correlation.* (when a vif model ran);
    text: summary.txt. `format` is "all", one of json, parquet, csv, text, or several ("parquet,csv").
    """
    wanted = _formats(format)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    tidy = result.tidy()
    corr = result.correlation()
    if corr is not None:
        corr = corr.rename_axis("feature").reset_index()
    if "json" in wanted:
        write_bytes(out / "result.json", result.json_text().encode())
        written.append(out / "result.json")
    for fmt, writer in (("parquet", _write_parquet), ("csv", _write_csv)):
        if fmt in wanted:
            writer(tidy, out / f"stats.{fmt}")
            written.append(out / f"stats.{fmt}")
            if corr is not None:
                writer(corr, out / f"correlation.{fmt}")
                written.append(out / f"correlation.{fmt}")
    if "text" in wanted:
        write_bytes(out / "summary.txt", result.summary_text().encode())
        written.append(out / "summary.txt")
    return written
