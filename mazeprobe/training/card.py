"""The model card (NAME.md next to a checkpoint): the training record, the config, the held-out history,
an evaluation (`mazeprobe evaluate`) and the trainers' notes (NAME.notes.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mazeprobe.agents.fingerprint import PUBLISHED_NETWORK, fingerprint_rows, read_fingerprint
from mazeprobe.atomic import write_bytes
from mazeprobe.training.config import card_path, evaluation_path, training_record_path


def write_card(checkpoint: str | os.PathLike, evaluation: dict, out: str | os.PathLike | None = None) -> Path:
    """The model card (Markdown, next to the checkpoint unless `out`): training record plus this
    evaluation; the evaluation is also written as NAME.evaluation.json beside the checkpoint, the form a
    resolution rule reads."""
    checkpoint = Path(checkpoint)
    write_bytes(
        evaluation_path(checkpoint), (json.dumps(evaluation, indent=1, allow_nan=False) + "\n").encode()
    )
    record_file = training_record_path(checkpoint)
    record = json.loads(record_file.read_text()) if record_file.exists() else None
    out = Path(out) if out else card_path(checkpoint)
    lines = [f"# Model card: {checkpoint.name}", ""]
    if record:
        cfg = record["config"]
        where = (
            f"whose cheese always lies in the top-right region (`{cfg['placement']}`)"
            if str(cfg["placement"]).startswith("region")
            else f"with the cheese placed `{cfg['placement']}`"
        )
        init = record.get("init")
        start = ""
        if init:
            fraction = init.get("budget_fraction")
            share = (
                f", {fraction:.1%} of its {init['original_samples']:,} training samples" if fraction else ""
            )
            start = (
                f" Fine-tuned from `{Path(init['checkpoint']).name}` (sha256 {init['sha256'][:12]}{share})."
            )
        lines += [
            f"An IMPALA policy network (scale {cfg['scale']}, {evaluation['parameters']:,} parameters, the "
            "published layer names and checkpoint format) trained by `mazeprobe train` to imitate the "
            f"shortest-path expert with DAgger relabelling, on hard-mode procgen mazes {where}. It acts "
            f"from the 64x64 RGB observation alone.{start}",
            "",
            "## Training",
            "",
            "| | |",
            "|---|---|",
            f"| config | `{record.get('config_file') or 'defaults'}` (copied below) |",
            f"| seed | {cfg['seed']} |",
            f"| samples seen | {record['samples']:,} training samples (minibatch rows) |",
            f"| fresh labelled states | {record.get('states_collected', 0):,} |",
            f"| wall time | {record['wall_seconds'] / 60:.1f} min |",
            f"| machine | {record['machine']}; trained on {record.get('device', 'cpu')} |",
            f"| torch | {record.get('torch', '?')} |",
            f"| finished | {record['finished']} |",
            "",
            f"Held-out success during training ({cfg['eval_mazes']} training-distribution mazes, sampled "
            "actions):",
            "",
            "| samples | step accuracy | held-out success |",
            "|---:|---:|---:|",
        ]
        for h in record["history"]:
            lines.append(f"| {h['samples']:,} | {h['accuracy']:.3f} | {h['heldout_success']:.1%} |")
        lines += ["", "```yaml", *(f"{k}: {v}" for k, v in cfg.items()), "```", ""]
    lines += [
        "## Evaluation (`mazeprobe evaluate`)",
        "",
        f"{evaluation['n_mazes']} mazes per suite, one episode each, at most {evaluation['max_steps']} "
        "steps; the evaluation mazes were never trained on.",
        "",
        "| suite | actions | placement | filter | got cheese | entered top-right 5x5 without cheese "
        "| timed out |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for key, s in evaluation["suites"].items():
        suite, actions = key.split("/")
        lines.append(
            f"| {suite} | {actions} | `{s['placement']}` | {s['filter']} | {s['got_cheese']:.1%} | "
            f"{s['entered_top_right_5x5_without_cheese']:.1%} | {s['timed_out']:.1%} |"
        )
    lines += _fingerprint_section(checkpoint)
    notes = checkpoint.with_suffix(".notes.md")  # what the people who trained it want a reader to know
    if notes.exists():
        lines += ["", "## Notes", "", notes.read_text().strip()]
    lines += ["", "```json", json.dumps({"training": record, "evaluation": evaluation}, indent=1), "```", ""]
    write_bytes(out, "\n".join(lines).encode())
    return out


def _fingerprint_section(checkpoint: Path) -> list[str]:
    """The card's Fingerprint table when `mazeprobe fingerprint --save` measured these very bytes (read
    back, never measured here: evaluate stays as fast as it is); nothing otherwise."""
    doc = read_fingerprint(checkpoint)
    if doc is None:
        return []
    lines = [
        "",
        "## Fingerprint (`mazeprobe fingerprint`)",
        "",
        f"{doc['n_mazes']:,} decision-square test mazes (seed {doc['seed']}), one episode each with sampled "
        f"actions; {doc.get('intervals', '95% intervals')}. Published: {PUBLISHED_NETWORK}.",
        "",
        "| measure | value | 95% interval | published |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {name} | {value} | {ci} | {pub} |" for name, value, ci, pub in fingerprint_rows(doc)]
    return lines
