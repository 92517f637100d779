"""Rich display in notebooks: each object a notebook shows draws itself (`_repr_html_`, `_repr_png_`) with
facts that could be false, escapes what people typed, and keeps a one-line `repr`."""

from __future__ import annotations

import hashlib
import html as htmllib
import io
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mazeprobe.agents import make_policy
from mazeprobe.agents.impala import random_impala, save_checkpoint
from mazeprobe.errors import UsageError
from mazeprobe.experiments import RunDir, field_picture, run_experiment
from mazeprobe.experiments.spec import load_spec
from mazeprobe.experiments.vfield import vector_field
from mazeprobe.maze import MazeState, SampleSpec, maze_image, sample_mazes, summarize_mazes
from mazeprobe.maze.env import LevelLoader
from mazeprobe.maze.render import notebook_cell
from mazeprobe.registry import Leaderboard, calibration_report, score_table
from mazeprobe.registry.report import render_report
from mazeprobe.sim import Roller
from mazeprobe.stats import fit_plan, make_plan

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EVIL = "<script>alert('x')</script>"


def picture(data: bytes) -> Image.Image:
    """The PNG decoded; it must be a real picture: more than a few pixels, more than one colour."""
    assert data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(data))
    image.load()
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) >= 4, "a flat picture"
    return image


def one_line(obj: object) -> str:
    text = repr(obj)
    assert "\n" not in text and len(text) < 200, text
    return text


@pytest.fixture(scope="module")
def mazes() -> pd.DataFrame:
    return sample_mazes(SampleSpec(n=40, seed=3))


# --- the maze layer ------------------------------------------------------------------------------


def test_a_maze_state_shows_its_picture():
    loader = LevelLoader(1)
    try:
        state = MazeState.from_bytes(loader.states([7])[0])
    finally:
        loader.close()
    n = state.maze_size
    image = picture(state._repr_png_())
    assert image.size == (n * notebook_cell(n),) * 2
    assert "level seed 7" in one_line(state) and f"{n}x{n}" in repr(state)
    # the picture is of this maze: moving the cheese changes it
    open_cells = [(int(r), int(c)) for r, c in np.argwhere(state.grid == 0) if (r, c) != state.mouse]
    moved = state.with_cheese(*open_cells[-1])
    assert moved.cheese != state.cheese and moved._repr_png_() != state._repr_png_()


def test_a_maze_table_row_shows_its_picture(mazes):
    row = mazes.iloc[5]
    n = int(row["maze_size"])
    image = picture(maze_image(row)._repr_png_())
    assert image.size == (n * notebook_cell(n),) * 2
    # the decision square's red frame is drawn exactly when the maze has one
    red = (np.asarray(image.convert("RGB")) == (200, 40, 40)).all(axis=2).any()
    assert red == bool(row["has_decision_square"])
    assert f"level seed {int(row['seed'])}" in one_line(maze_image(row))
    with pytest.raises(UsageError, match="40 rows"):
        maze_image(mazes)
    with pytest.raises(UsageError, match="column grid"):
        maze_image(row.to_dict() | {"grid": [0, 1]})


def test_a_maze_table_summary(mazes):
    table = mazes.copy()
    table["note"] = [EVIL] * 30 + ["plain"] * 10  # user text in a column: escaped
    summary = summarize_mazes(table)
    html = summary._repr_html_()
    share = table["has_decision_square"].astype(bool).mean()
    assert f"{share:.1%} of the mazes with cheese" in html
    assert "Maze table: 40 mazes" in html
    sizes = table["maze_size"].value_counts()
    assert f"{sizes.index.max()}: {sizes[sizes.index.max()]}" in html
    assert f"{table['seed'].min()} to {table['seed'].max()}" in html
    mean = table["euc_dist_cheese_top_right"].astype(float).mean()
    row = rf"<td>euc_dist_cheese_top_right</td><td>float</td><td[^>]*>40</td><td[^>]*>{mean:.4g}<"
    assert re.search(row, html)
    assert "&lt;script&gt;" in html and "<script" not in html
    assert summary.features.loc["steps_between_mouse_cheese", "defined"] == 40
    text = one_line(summary)
    assert "40 mazes" in text and f"{share:.0%} with a decision square" in text


# --- the experiments layer -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    ckpt = save_checkpoint(random_impala(1, seed=3), tmp / "net.pth")
    spec = tmp / "tiny.yaml"
    spec.write_text(
        "name: tiny\n"
        f"policy: {{checkpoint: {ckpt}}}\n"
        "mazes: {n: 6, seed: 4, require_decision_square: true}\n"
        "rollouts: {max_steps: 8, actions: argmax, chunk_mazes: 4}\n"
    )
    return RunDir(run_experiment(load_spec(spec), tmp / "runs")), ckpt


def test_a_run_shows_its_network_counts_and_rates(small_run):
    run, ckpt = small_run
    html = run._repr_html_()
    sha = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert sha[:12] in html and "Run tiny" in html
    assert "<th>mazes</th><td class=\"num\">6</td>" in html
    assert "<th>chunks done</th><td>2 of 2</td>" in html
    got = run.episodes()["got_cheese"].mean()
    assert f"<th>got the cheese</th><td>{got:.1%}</td>" in html
    assert one_line(run) == f"RunDir({str(run.path)!r})"


def test_a_run_lists_its_interventions_with_their_rates(small_run, tmp_path):
    run, _ = small_run
    copy = RunDir(tmp_path / "tiny")
    copy.path.mkdir()
    for name in (run.MANIFEST, run.MAZES, run.EPISODES):
        (copy.path / name).write_bytes((run.path / name).read_bytes())
    # an interventions table as the runner writes it (one row per maze and edit), named by the user
    seeds = run.mazes()["seed"].tolist()
    pd.DataFrame({
        "seed": seeds * 2, "intervention": ["none"] * 6 + [EVIL] * 6,
        "got_cheese": [1.0] * 6 + [0.0, 0.0, 0.0, 0.0, 0.0, 1.0], "p_cheese_at_dsq": [0.9] * 6 + [0.25] * 6,
    }).to_parquet(copy.interventions_path)  # fmt: skip
    html = copy._repr_html_()
    assert "<td>none</td><td class=\"num\">6</td><td class=\"num\">1</td><td class=\"num\">0.9</td>" in html
    assert "&lt;script&gt;" in html and "<script" not in html and "0.1667" in html


def test_a_missing_run_says_why_instead_of_failing(tmp_path):
    html = RunDir(tmp_path / "nothing")._repr_html_()
    assert "cannot read this run" in html and "no manifest.json" in html


def test_a_vector_field_shows_its_picture(mazes):
    table = sample_mazes(SampleSpec(n=1, seed=5, require_decision_square=True, sizes=(9, 13)))
    field = vector_field(make_policy("shard"), table, Roller(2))
    n = int(table["maze_size"].iloc[0])
    one = field_picture(field, table.iloc[0])
    image = picture(one._repr_png_())
    cell = notebook_cell(n)
    assert image.size == (n * cell, n * cell)
    two = field_picture([("original", field), ("again", field)], table)
    assert picture(two._repr_png_()).size == (2 * n * cell + 8, n * cell + 16)
    assert "original, again" in one_line(two) and f"{n}x{n}" in repr(one)


# --- the stats layer -----------------------------------------------------------------------------


def test_a_fit_shows_its_coefficient_table():
    table = sample_mazes(SampleSpec(n=400, seed=11, require_decision_square=True, exclude_cheese_top_right=5))
    x = table["euc_dist_cheese_top_right"].astype(float).to_numpy()
    eta = 0.5 - 1.5 * (x - x.mean()) / x.std()
    table["got_cheese"] = np.random.default_rng(0).random(len(table)) < 1 / (1 + np.exp(-eta))
    features = ["euc_dist_cheese_top_right", "steps_between_cheese_decision_square"]
    result = fit_plan(table, make_plan("display-demo", "got_cheese", features, ["logit", "vif"]))
    html = result._repr_html_()
    logit = result.models["logit"].table
    for name in features:
        row = logit.loc[name]
        cells = "".join(f'<td class="num">{row[c]:.3f}</td>' for c in ("coef", "se", "ci_low", "ci_high"))
        assert f"<td>{name}</td>{cells}" in html
    assert "<th class=\"num\">95% low</th>" in html and "(intercept)" in html
    assert html.index("logit: Logit") < html.index("vif: variance inflation")
    text = one_line(result)
    assert "display-demo" in text and "n = 400" in text
    one_line(result.models["logit"])


# --- the registry layer --------------------------------------------------------------------------


def forecasts() -> pd.DataFrame:
    """Three forecasters of clearly different skill on 12 resolved questions (one named by a user)."""
    rows = []
    for i in range(12):
        y = float(i % 3 != 0)
        for name, p_right in (("good", 0.85), ("<b>middling</b>", 0.6), ("poor", 0.3)):
            p = p_right if y else 1 - p_right
            rows.append({"forecaster": name, "question": f"q{i:02d}", "probability": p, "y": y,
                         "outcome": "yes" if y else "no", "text": f"Question {i}"})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def scored():
    table = forecasts()
    return table, score_table(table, n_boot=100, n_perm=100, seed=0)


def test_the_leaderboard_lists_forecasters_best_first(scored):
    _, scores = scored
    board = Leaderboard(scores)
    html = board._repr_html_()
    brier = {f: s["brier"] for f, s in scores["forecasters"].items()}
    best_first = sorted(brier, key=brier.get)
    assert best_first == ["good", "<b>middling</b>", "poor"] == board.order()
    shown = [html.index(f"<strong>{htmllib.escape(name)}</strong>") for name in best_first]
    assert shown == sorted(shown)
    assert f"{brier['good']:.3f}" in html and "<b>" not in html
    assert "<html" not in html and 'class="mazeprobe-report"' in html
    text = one_line(board)
    assert text.index("good") < text.index("poor")
    with pytest.raises(UsageError):
        Leaderboard({"n": 1})


def test_the_report_shows_inline_what_the_report_command_writes(scored, tmp_path):
    table, scores = scored
    report = calibration_report(table, scores)
    page = render_report(table, scores, "html", generated_at=None)
    inline = report._repr_html_()
    headings = re.findall(r"<h2>.*?</h2>", page)
    assert len(headings) >= 5 and headings == re.findall(r"<h2>.*?</h2>", inline)
    assert inline.count("<svg") == page.count("<svg") == 3
    assert "<body" not in inline and "<html" not in inline and "<!DOCTYPE" not in inline
    # every rule of the inline style applies inside the report's element only
    css = inline[inline.index("<style>") + 7 : inline.index("</style>")]
    css = css.replace("@media (prefers-color-scheme: dark) {", "")
    for selectors, _ in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        for sel in selectors.split(","):
            assert sel.strip().startswith(".mazeprobe-report"), sel
    written = report.write(tmp_path / "r.html")
    assert written.read_text().startswith("<!DOCTYPE html>")
    assert "forecaster(s) ranked" in one_line(report) and "sections" in one_line(report.content)
