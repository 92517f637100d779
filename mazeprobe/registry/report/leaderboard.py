"""The leaderboard as a notebook shows it: `Leaderboard(score_table(table))` at the end of a cell.

`score_table` returns plain JSON (a dict), which stays so; `Leaderboard` wraps it for display: the
report's own score tables (the ranked forecasters best Brier first, each stand-in network's, pairwise
skill, late and unregistered forecasts), drawn by the report's renderer and scoped to their element.
"""

from __future__ import annotations

import pandas as pd

from mazeprobe.display import one_line
from mazeprobe.errors import UsageError
from mazeprobe.registry.report import boards
from mazeprobe.registry.report.html import render_fragment
from mazeprobe.registry.report.model import pairwise
from mazeprobe.registry.report.parts import Report, Section
from mazeprobe.registry.scoring.metrics import METRICS
from mazeprobe.registry.scoring.scores import score_table, scores_text

TABLE_COLUMNS = ("forecaster", "metric", "orientation", "n_resolved", "score", "ci_low", "ci_high", "skill")

_BOARDS = (boards.leaderboard, boards.stand_in_boards, pairwise, boards.late, boards.unregistered)


class Leaderboard:
    """Scores (the dict of scoring.score_table) to show: a notebook draws the score tables."""

    def __init__(self, scores: dict) -> None:
        if not isinstance(scores, dict) or "forecasters" not in scores:
            raise UsageError("Leaderboard takes the dict score_table returns")
        self.scores = scores

    @classmethod
    def from_table(cls, table: pd.DataFrame, **kw) -> Leaderboard:
        """Score a tidy forecast table (keywords as score_table's) and wrap the result."""
        return cls(score_table(table, **kw))

    def order(self) -> list[str]:
        """The ranked forecasters, best Brier first (those with nothing scored last)."""
        return boards.order(self.scores["forecasters"])

    def table(self) -> pd.DataFrame:
        """The ranked forecasters' scores, tidy: one row per forecaster (best first) and metric of the
        registry (mazeprobe.registry.scoring.metrics), with the metric's orientation, its mean, 95% interval
        and skill against a 50% forecast (None where nothing was scored)."""
        ranked = self.scores["forecasters"]
        rows = []
        for name in self.order():
            f = ranked[name]
            for m in METRICS.values():
                ci = f.get(f"{m.name}_ci") or (None, None)
                score, skill = f.get(m.mean_key), f.get(f"{m.name}_skill")
                rows.append((name, m.name, m.orientation, f["n_resolved"], score, ci[0], ci[1], skill))
        return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))

    def __repr__(self) -> str:
        ranked = self.scores["forecasters"]
        best = ", ".join(
            f"{name} {ranked[name]['brier']:.3f}" if ranked[name]["brier"] is not None else name
            for name in self.order()[:3]
        )
        more = "" if len(ranked) <= 3 else ", ..."
        return one_line(f"Leaderboard({len(ranked)} forecaster(s) ranked by Brier: {best}{more})", 190)

    def text(self) -> str:
        """The leaderboard as `mazeprobe score` prints it."""
        return scores_text(self.scores)

    def content(self) -> Report:
        empty = pd.DataFrame()  # these tables read the scores alone
        built = [build(empty, self.scores) for build in _BOARDS]
        sections = tuple(s for b in built for s in ((b,) if isinstance(b, Section) else b or ()))
        s = self.scores
        meta = (
            f"{s.get('n_questions', 0)} question(s), {s.get('n_resolved_questions', 0)} resolved · "
            f"seed {s.get('seed')}, {s.get('n_boot', '?')} bootstrap resamples, "
            f"{s.get('n_perm', '?')} permutations"
        )
        return Report("Forecast scores", meta, sections)

    def _repr_html_(self) -> str:
        return render_fragment(self.content())
