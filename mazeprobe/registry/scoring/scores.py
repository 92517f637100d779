"""Score resolved forecasts with every metric of the registry (mazeprobe.registry.scoring.metrics: Brier and
log score), with CORP decompositions, intervals and pairwise skill.

Input is the tidy forecast table (one row per forecast; see table.forecast_table). A row is scored when
its probability and its outcome y are both finite; directional claims (no probability) are counted and
checked against the outcome but never scored. `item_score_table` is the tidy score table (one row per
forecaster, question and metric); `score_table` summarises it per forecaster, in the groups below.
Everything `score_table` returns is plain JSON (floats, ints, str, None).

Only timely, registered forecasts are ranked. Rows are scored in groups that are never mixed:

- "forecasters" (the leaderboard, with "pairwise"): timely, registered forecasts whose outcome was measured
  on the registry's subject network (all of them when the registry declares no subject);
- "networks": every ranked outcome's network, each with each forecaster's summary on that network; one
  whose `on_subject` is False is a stand-in, and its scores never enter the leaderboard;
- "late": forecasts registered after their question's first evidence (`late`), and, unless `allow_late`,
  those on a question whose rule was registered after the first evidence of the design it reads
  (`rule_late`); scored apart and never ranked;
- "unregistered": rows not in the lock as they are (forecast_table with include_unregistered); apart.

Every scored forecast carries its network_sha256, on_subject (True, False, or None without a subject),
late and rule_late.

Pairwise relative skill: on the questions both forecasters answered, the geometric mean
of the per-question score ratios a/b (exp of the mean log ratio; b/a for a metric where higher is better),
so a forecaster who answered only the easy questions is not compared with one who answered the hard ones.
Per-question scores are never 0 because probabilities of exactly 0 or 1 are refused, so every ratio is
finite. Values below 1 mean a is better.
"""

from __future__ import annotations

import os
import zlib
from itertools import combinations, product

import numpy as np
import pandas as pd

from mazeprobe.errors import UsageError
from mazeprobe.registry.scoring.calibration import bootstrap_mean_ci, reliability
from mazeprobe.registry.scoring.metrics import METRICS, primary

REQUIRED_COLUMNS = ("forecaster", "question", "probability", "y")
SCORE_COLUMNS = ("forecaster", "question", "metric", "orientation", "probability", "y", "score")
ANECDOTAL_BELOW = 10  # fewer resolved forecasts than this: results are labelled anecdotal
BASELINE_BRIER = METRICS["brier"].baseline  # the names the report reads
BASELINE_LOG = METRICS["log"].baseline


def _rng(seed: int, purpose: str, *names: str) -> np.random.Generator:
    """A generator per (purpose, forecaster...), so adding a forecaster never changes another's numbers."""
    key = zlib.crc32("\x1f".join((purpose, *names)).encode())
    return np.random.default_rng([seed, key])


def _check_table(table: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise UsageError(f"forecast table lacks column(s): {', '.join(missing)}")
    t = table.copy()
    try:
        t["probability"] = t["probability"].astype(float)
        t["y"] = t["y"].astype(float)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"forecast table: probability and y must be numbers ({exc})") from None
    dup = t.duplicated(["forecaster", "question"], keep=False)
    if dup.any():
        first = t[dup].iloc[0]
        raise UsageError(
            f"forecast table has more than one row for forecaster {first['forecaster']!r}, "
            f"question {first['question']!r}"
        )
    p = t["probability"]
    bad = p.notna() & ~((p > 0) & (p < 1))
    if bad.any():
        row = t[bad].iloc[0]
        raise UsageError(
            f"forecast {row['forecaster']}:{row['question']} has probability {row['probability']}; "
            "probabilities must lie strictly between 0 and 1 (0 and 1 give infinite log loss)"
        )
    y = t["y"]
    if (y.notna() & ~y.isin((0.0, 1.0))).any():
        raise UsageError("forecast table: y must be 1.0 (yes), 0.0 (no) or NaN (unresolved)")
    return t


def _flag(t: pd.DataFrame, column: str) -> pd.Series:
    """Which rows have a true `column` (a table without the column has none; a missing value is not one)."""
    if column not in t.columns:
        return pd.Series(False, index=t.index)
    return t[column].map(lambda v: bool(v) if isinstance(v, (bool, np.bool_)) else False).astype(bool)


def _on_subject(t: pd.DataFrame) -> pd.Series:
    """Each row's on_subject: True, False, or None (no subject declared, or nothing measured)."""
    if "on_subject" not in t.columns:
        return pd.Series([None] * len(t), index=t.index, dtype=object)
    return t["on_subject"].map(lambda v: bool(v) if isinstance(v, (bool, np.bool_)) else None)


def _opt(value: object) -> object:
    """A table cell as JSON: NaN/NA become None, numpy scalars become Python ones."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


# --- pairwise skill -----------------------------------------------------------------------------


def relative_skill(scores_a, scores_b) -> float:
    """Geometric mean of per-question score ratios a/b (below 1: a scored better)."""
    d = np.log(np.asarray(scores_a, dtype=float)) - np.log(np.asarray(scores_b, dtype=float))
    if len(d) == 0:
        raise UsageError("no common questions")
    return float(np.exp(d.mean()))


def permutation_p_value(scores_a, scores_b, *, n_perm: int, rng: np.random.Generator) -> float:
    """Two-sided p-value for 'a and b are exchangeable': swap a's and b's forecast on each common question
    with probability 1/2 (which flips the sign of that question's log score ratio) and count how often the
    mean log ratio is at least as far from 0 as observed. When 2^n <= n_perm every swap pattern is
    enumerated, which gives the exact p-value; otherwise (1 + hits) / (1 + n_perm)."""
    d = np.log(np.asarray(scores_a, dtype=float)) - np.log(np.asarray(scores_b, dtype=float))
    n = len(d)
    if n == 0:
        raise UsageError("no common questions")
    observed = abs(d.mean())
    tol = 1e-12 * max(1.0, observed)
    if 2**n <= n_perm:
        signs = np.array(list(product((1.0, -1.0), repeat=n)))
        stats = np.abs(signs @ d / n)
        return float(np.mean(stats >= observed - tol))
    signs = rng.choice((1.0, -1.0), size=(n_perm, n))
    stats = np.abs(signs @ d / n)
    return float((1 + np.sum(stats >= observed - tol)) / (1 + n_perm))


# --- the tidy score table ----------------------------------------------------------------------


def _scored(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with a probability and an outcome, by question."""
    return rows[rows["probability"].notna() & rows["y"].notna()].sort_values("question")


def _item_rows(scored: pd.DataFrame) -> pd.DataFrame:
    """One row per scored forecast and metric (SCORE_COLUMNS), metric by metric."""
    p = scored["probability"].to_numpy(dtype=float)
    y = scored["y"].to_numpy(dtype=float)
    parts = [
        pd.DataFrame(
            {
                "forecaster": scored["forecaster"].to_numpy(dtype=object),
                "question": scored["question"].to_numpy(dtype=object),
                "metric": m.name,
                "orientation": m.orientation,
                "probability": p,
                "y": y,
                "score": m.item(p, y),
            },
            columns=list(SCORE_COLUMNS),
        )
        for m in METRICS.values()
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(SCORE_COLUMNS))


def item_score_table(table: pd.DataFrame) -> pd.DataFrame:
    """The tidy score table of a forecast table: one row per scored forecast (a probability and a resolved
    outcome) and metric of METRICS, with the metric's orientation; by forecaster, question and metric."""
    t = _check_table(table)
    scored = _scored(t).sort_values(["forecaster", "question"], kind="stable")
    return _item_rows(scored)


# --- per forecaster -----------------------------------------------------------------------------


def _summary_keys() -> tuple[str, ...]:
    """A forecaster's summary keys that the metrics give, in the order the JSON has always had them."""
    ms = list(METRICS.values())
    keys = [m.mean_key for m in ms] + [f"{m.name}_skill" for m in ms] + [f"{m.name}_ci" for m in ms]
    return (*keys, "reliability", *(f"{m.name}_{part}" for m in ms for part in m.decomposition))


def _score_forecaster(name: str, rows: pd.DataFrame, *, n_boot: int, seed: int) -> dict:
    scored = _scored(rows)
    claims = rows[rows["probability"].isna()]
    n = len(scored)
    out: dict = {
        "n_resolved": n,
        "n_forecasts": int(rows["probability"].notna().sum()),
        "anecdotal": n < ANECDOTAL_BELOW,
    }
    out.update({f"baseline_{m.name}": m.baseline for m in METRICS.values()})
    out.update(dict.fromkeys(_summary_keys()))
    questions: dict[str, dict] = {}
    if n:
        p = scored["probability"].to_numpy()
        y = scored["y"].to_numpy()
        items = _item_rows(scored)
        per_item = {m: items.loc[items["metric"] == m, "score"].to_numpy(dtype=float) for m in METRICS}
        for m in METRICS.values():
            s = per_item[m.name]
            parts = m.decompose(p, y)
            mean = parts.score if parts is not None else float(s.mean())
            out[m.mean_key] = mean
            out[f"{m.name}_skill"] = m.skill(mean)
            ci = bootstrap_mean_ci(s, n_boot=n_boot, rng=_rng(seed, f"boot-{m.name}", name))
            out[f"{m.name}_ci"] = list(ci)
            for part in m.decomposition:
                out[f"{m.name}_{part}"] = getattr(parts, part)
        out["reliability"] = reliability(p, y, n_resamples=n_boot, rng=_rng(seed, "band", name)).to_json()
        for i, row in enumerate(scored.itertuples(index=False)):
            questions[str(row.question)] = {
                "probability": float(row.probability),
                "outcome": _opt(getattr(row, "outcome", None)) or ("yes" if row.y == 1.0 else "no"),
                "y": float(row.y),
                **{m: float(per_item[m][i]) for m in METRICS},
                "late": bool(_opt(getattr(row, "late", False)) or False),
                "rule_late": bool(_opt(getattr(row, "rule_late", False)) or False),
                "network": _opt(getattr(row, "network", None)),
                "network_sha256": _opt(getattr(row, "network_sha256", None)),
                "on_subject": _opt(getattr(row, "on_subject", None)),
            }
    out["questions"] = questions
    claim_rows: dict[str, dict] = {}
    for row in claims.sort_values("question").itertuples(index=False):
        claim = _opt(getattr(row, "claim", None))
        y = _opt(row.y)
        correct = None if y is None or claim is None else (claim == ("yes" if y == 1.0 else "no"))
        claim_rows[str(row.question)] = {
            "claim": claim,
            "outcome": _opt(getattr(row, "outcome", None)),
            "correct": correct,
        }
    out["claims"] = claim_rows
    out["n_claims"] = len(claim_rows)
    out["n_claims_resolved"] = sum(c["correct"] is not None for c in claim_rows.values())
    out["claims_correct"] = sum(c["correct"] is True for c in claim_rows.values())
    return out


def _score_group(rows: pd.DataFrame, *, n_boot: int, seed: int, late: bool = False) -> dict:
    """Each forecaster's summary over `rows`, by name; `late` marks the summaries of the late group."""
    return {
        f: _score_forecaster(f, rows[rows["forecaster"] == f], n_boot=n_boot, seed=seed) | {"late": late}
        for f in sorted(str(f) for f in rows["forecaster"].unique())
    }


def _pairwise(group: dict, *, n_perm: int, seed: int) -> list[dict]:
    """Pairwise relative skill of every two forecasters of a group on their common questions."""
    out = []
    for a, b in combinations(sorted(group), 2):
        qa, qb = group[a]["questions"], group[b]["questions"]
        common = sorted(set(qa) & set(qb))
        if not common:
            continue
        entry: dict = {"a": a, "b": b, "n_common": len(common)}
        for m in METRICS.values():
            sa = [qa[q][m.name] for q in common]
            sb = [qb[q][m.name] for q in common]
            if m.orientation == "higher":  # so that below 1 still means a is better
                sa, sb = sb, sa
            entry[f"relative_{m.name}"] = relative_skill(sa, sb)
            rng = _rng(seed, f"perm-{m.name}", a, b)
            entry[m.p_key] = permutation_p_value(sa, sb, n_perm=n_perm, rng=rng)
        entry["anecdotal"] = len(common) < ANECDOTAL_BELOW
        out.append(entry)
    return out


def score_table(
    table: pd.DataFrame, *, n_boot: int = 1000, n_perm: int = 2000, seed: int = 0, allow_late: bool = False
) -> dict:
    """Score every forecaster in the tidy forecast table, in the groups of the module doc.

    n_boot is the number of question resamples behind each 95% interval and also the number of outcome
    resamples behind each 90% reliability consistency band; n_perm the permutations per pairwise test.
    `allow_late`: rank the forecasts on questions whose rule was amended late (still marked rule_late);
    late forecasts are never ranked."""
    if n_boot < 1 or n_perm < 1:
        raise UsageError("n_boot and n_perm must be positive")
    t = _check_table(table)
    unregistered = _flag(t, "unregistered")
    late = ~unregistered & (_flag(t, "late") | (_flag(t, "rule_late") & (not allow_late)))
    ranked = ~unregistered & ~late
    on = _on_subject(t)
    resolved = t["y"].notna()  # a probability to score, or a claim to check
    stand_in = ranked & resolved & on.map(lambda v: v is False).astype(bool)
    kw = {"n_boot": n_boot, "seed": seed}
    # the leaderboard lists every ranked forecaster; an outcome measured on a stand-in is, for the subject,
    # no outcome at all (its forecast counts as unresolved there)
    on_subject_rows = t[ranked].copy()
    on_subject_rows.loc[stand_in[ranked], "y"] = np.nan
    result: dict = {
        "subject": t.attrs.get("subject"),
        "forecasters": _score_group(on_subject_rows, **kw),
        "networks": [],
        "late": _score_group(t[late], **kw, late=True),
        "unregistered": _score_group(t[unregistered], **kw),
    }
    if "network_sha256" in t.columns:
        measured = t[ranked & resolved]
        keys = measured["network_sha256"].map(lambda v: _opt(v) or "")
        for sha in sorted(set(keys)):
            rows = measured[keys == sha]
            flags = {_opt(v) for v in _on_subject(rows)}
            result["networks"].append(
                {
                    "network": _opt(rows["network"].iloc[0]) if "network" in rows.columns else None,
                    "network_sha256": sha or None,
                    "on_subject": flags.pop() if len(flags) == 1 else None,
                    "forecasters": _score_group(rows, **kw),
                }
            )
    result["pairwise"] = _pairwise(result["forecasters"], n_perm=n_perm, seed=seed)
    for net in result["networks"]:
        if net["on_subject"] is False:
            net["pairwise"] = _pairwise(net["forecasters"], n_perm=n_perm, seed=seed)
    result["n_questions"] = int(t["question"].nunique())
    result["n_resolved_questions"] = int(t.loc[t["y"].notna(), "question"].nunique())
    result["allow_late"] = allow_late
    result["seed"] = seed
    result["n_boot"] = n_boot
    result["n_perm"] = n_perm
    return result


def stand_ins(scores: dict) -> list[dict]:
    """The networks scored that are not the subject (each with its forecasters' summaries)."""
    return [n for n in scores.get("networks", []) if n.get("on_subject") is False]


# --- text output --------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ci_text(ci: list[float] | None) -> str:
    """A 95% interval as `[lo, hi]` to 3 decimals ('' when there is none)."""
    return "" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _metric_cells(f: dict) -> str:
    """Each metric's mean and 95% interval, as the terminal table's columns."""
    return "".join(f"{_num(f[m.mean_key]):>6} {ci_text(f[f'{m.name}_ci']):<17}" for m in METRICS.values())


def _part_cells(f: dict) -> str:
    """The leaderboard metric's decomposition, one column per part."""
    m = primary()
    return "".join(f"{_num(f[f'{m.name}_{part}']):>7}" for part in m.decomposition)


def _legend() -> list[str]:
    """What the columns mean, from the metrics' records."""
    ms = list(METRICS.values())
    one_way = len({m.orientation for m in ms}) == 1
    what = "; ".join(
        f"{m.label}: {m.formula}" + ("" if one_way else f" ({m.orientation} is better)") for m in ms
    )
    if one_way:
        what += f"; {ms[0].orientation} is better"
    base = " and ".join(f"{m.baseline:.3f} ({m.label})" for m in ms)
    lead = primary()
    parts = f"MCB - DSC + UNC = {lead.label} (CORP decomposition). " if lead.decomposition else ""
    return [f"{what}. A 50% forecast scores {base}.", f"{parts}claims: directional claims correct/resolved."]


def _rows_text(group: dict, mark_late: bool = False) -> tuple[list[str], bool]:
    """One line per forecaster of a group (and whether any is anecdotal)."""
    lines, anecdotal = [], False
    for name, f in group.items():
        mark = "*" if f["anecdotal"] else " "
        anecdotal |= f["anecdotal"]
        claims = f"{f['claims_correct']}/{f['n_claims_resolved']}" if f["n_claims"] else "-"
        late = "  late" if mark_late else ""
        lines.append(
            f"{name[:21] + mark:<22}{f['n_resolved']:>4}  {_metric_cells(f)}{_part_cells(f)}"
            f"  {claims:>7}{late}"
        )
    return lines, anecdotal


def network_name(network: dict) -> str:
    """A network as people read it: its name (a checkpoint under this directory by its relative path) and
    the first 12 hex digits of its sha256."""
    sha = network.get("network_sha256") or network.get("sha256")
    name = str(network.get("network") or network.get("name") or "unknown network")
    if os.path.isabs(name):
        try:
            near = os.path.relpath(name)
        except ValueError:  # another drive
            near = name
        name = name if near.startswith("..") else near
    return f"{name} (sha256 {sha[:12]})" if sha else f"{name} (sha256 unknown)"


def scores_text(scores: dict) -> str:
    """A readable leaderboard for the terminal (`mazeprobe score --format text`)."""
    lines = []
    columns = "".join(f"{m.label:>6} {'95% CI':<17}" for m in METRICS.values())
    parts = "".join(f"{part.upper():>7}" for part in primary().decomposition)
    header = f"{'forecaster':<22}{'n':>4}  {columns}{parts}  {'claims':>7}"
    subject = scores.get("subject")
    if subject:
        lines.append(f"subject: {network_name(subject)}; the leaderboard counts outcomes measured on it")
    lines.append(header)
    lines.append("-" * len(header))
    rows, anecdotal = _rows_text(scores["forecasters"])
    lines += rows
    for net in stand_ins(scores):
        lines.append("")
        lines.append(
            f"on a stand-in network, not the subject: {network_name(net)}; these scores are about forecasts "
            "of the subject measured on another network, never ranked with the leaderboard:"
        )
        rows, more = _rows_text(net["forecasters"])
        lines += rows
        anecdotal |= more
    lines.append("")
    lines += _legend()
    if anecdotal:
        lines.append(f"* anecdotal: fewer than {ANECDOTAL_BELOW} resolved forecasts")
    if scores.get("late"):
        rule = "" if scores.get("allow_late") else ", or on a question whose rule was amended after it"
        lines.append("")
        lines.append(
            f"late (registered after the first evidence for their question{rule}; not ranked, not compared):"
        )
        lines += _rows_text(scores["late"], mark_late=True)[0]
    if scores.get("unregistered"):
        lines.append("")
        lines.append("unregistered (not in the registry lock as they are; not ranked, not compared):")
        for name, f in scores["unregistered"].items():
            claims = f"{f['claims_correct']}/{f['n_claims_resolved']}" if f["n_claims"] else "-"
            blank = 7 * len(primary().decomposition)
            lines.append(f"{name[:21]:<22}{f['n_resolved']:>4}  {_metric_cells(f)}{'':>{blank}}  {claims:>7}")
    if scores["pairwise"]:
        lines.append("")
        widths = {m.name: len(m.label) + 7 for m in METRICS.values()}  # "rel. " and two spaces
        heads = "".join(f"{'rel. ' + m.label:>{widths[m.name]}}{'p':>8}" for m in METRICS.values())
        lines.append(f"{'a':<20}{'b':<20}{'common':>7}{heads}")
        for e in scores["pairwise"]:
            cells = "".join(
                f"{e[f'relative_{m.name}']:>{widths[m.name]}.3f}{e[m.p_key]:>8.3f}" for m in METRICS.values()
            )
            lines.append(f"{e['a'][:19]:<20}{e['b'][:19]:<20}{e['n_common']:>7}{cells}")
        lines.append(
            "relative: geometric mean of per-question score ratios a/b (< 1: a better); p: permutation test"
        )
    return "\n".join(lines)
