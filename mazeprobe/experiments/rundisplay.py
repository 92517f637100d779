"""What a notebook shows for a run directory: `RunDir(path)` at the end of a cell.

The spec's name and status, the network (checkpoint and sha256) or built-in agent, how many mazes,
episodes and chunks are done, the outcome rates of its episodes, and its interventions with their rates
when it has any. Read from the run's own files, never written; a run that cannot be read shows why.

This module reads a run through the `RunDir` it is given (rundir.py calls it), so it imports no run
module itself.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mazeprobe.display import esc, facts_html, note_html, table_html, view_html
from mazeprobe.errors import MazeprobeError
from mazeprobe.sim.episodes import outcome_rates

_RATE_COLUMNS = ["got_cheese", "entered_top_right_5x5", "timed_out", "steps"]
_RATES = (
    ("got_cheese", "got the cheese"),
    ("entered_top_right_5x5_without_cheese", "entered the top-right 5x5 without the cheese"),
    ("timed_out", "timed out"),
)


def _rows(paths: list[Path]) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


def run_summary(run) -> dict:
    """The facts the run's display shows, as plain values (`run` is a RunDir)."""
    manifest = run.manifest()
    done = sorted(run.chunks_dir.glob("done-*.json")) if run.chunks_dir.is_dir() else []
    whole = run.episodes_path.is_file()
    parts = [run.episodes_path] if whole else sorted(run.chunks_dir.glob("episodes-*.parquet"))
    summary = {
        "name": manifest.name,
        "path": str(run.path),
        "status": manifest.status,
        "spec_hash": manifest.spec_hash,
        "started_at": manifest.started_at,
        "ended_at": manifest.ended_at,
        "policy": manifest.policy.to_dict(),
        "n_mazes": manifest.n_mazes,
        "chunks_done": len(done),
        "chunks": run.chunk_count(),
        "episodes": _rows(parts) if parts else 0,
        "rates": None,
        "interventions": [i.id for i in manifest.experiment.interventions],
        "intervention_rates": None,
    }
    if parts:
        episodes = pa.concat_tables([pq.read_table(p, columns=_RATE_COLUMNS) for p in parts]).to_pandas()
        if len(episodes):
            summary["rates"] = outcome_rates(episodes)
    if run.interventions_path.is_file():
        table = pq.read_table(run.interventions_path).to_pandas()
        wanted = [c for c in ("got_cheese", "p_cheese_at_dsq") if c in table.columns]
        grouped = table.groupby("intervention", sort=False)
        rates = grouped[wanted].mean().join(grouped.size().rename("mazes"))
        summary["intervention_rates"] = rates.reset_index().to_dict("records")
    return summary


def _policy_text(policy: dict) -> tuple[str, str]:
    if policy.get("name") == "checkpoint" or policy.get("checkpoint"):
        return str(policy.get("checkpoint")), str(policy.get("sha256") or "not recorded")
    params = ", ".join(f"{k}={v}" for k, v in policy.items() if k != "name")
    return f"built-in agent {policy.get('name')}" + (f" ({params})" if params else ""), "–"


def run_html(run) -> str:
    """The run's display as HTML (`run` is a RunDir); a run that cannot be read says why."""
    try:
        s = run_summary(run)
    except (MazeprobeError, OSError, pa.ArrowException) as exc:
        return view_html(f"Run {run.path}", note_html(f"cannot read this run: {exc}"))
    network, sha = _policy_text(s["policy"])
    facts = [
        ("run", s["name"]),
        ("directory", s["path"]),
        ("status", s["status"]),
        ("network", network),
        ("sha256", sha),
        ("spec hash", (s["spec_hash"] or "")[:12]),
        ("mazes", s["n_mazes"]),
        ("episodes", s["episodes"]),
        ("chunks done", f"{s['chunks_done']} of {s['chunks']}"),
        ("started", s["started_at"] or "–"),
        ("ended", s["ended_at"] or "–"),
    ]
    rates = s["rates"]
    if rates:
        facts += [(label, f"{rates[key]:.1%}") for key, label in _RATES]
        if rates.get("mean_steps_when_got_cheese") is not None:
            facts.append(("mean steps when it got the cheese", round(rates["mean_steps_when_got_cheese"], 1)))
    parts = [facts_html(facts)]
    if s["intervention_rates"]:
        records = s["intervention_rates"]
        cols = [c for c in ("intervention", "mazes", "got_cheese", "p_cheese_at_dsq") if c in records[0]]
        parts.append(table_html(cols, ([r[c] for c in cols] for r in records), numeric=cols[1:]))
    elif s["interventions"]:
        parts.append(f"<p>interventions: {esc(', '.join(map(str, s['interventions'])))}</p>")
    if not rates:
        parts.append(note_html("no episodes yet"))
    return view_html(f"Run {s['name']}", *parts)
