"""resolve and score on real runs, from a hostile user's side: the registered rule only, lateness against
the first evidence whatever run directory is used, and automatic resolutions that must prove themselves
on their run. The runs are real (the shard agent on 300 mazes); each test works on its own copies."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest

from mazeprobe.cli import main
from mazeprobe.errors import MazeprobeError, UsageError
from mazeprobe.experiments.run import run_experiment
from mazeprobe.experiments.spec import load_spec
from mazeprobe.provenance import file_sha256
from mazeprobe.registry import (
    IntegrityError,
    forecast_table,
    load_registry,
    load_resolutions,
    register,
    verify,
)
from mazeprobe.registry.items.lock import read_lock
from mazeprobe.registry.resolution.resolve import resolve_run
from mazeprobe.registry.rules.base import RULES_VERSION
from mazeprobe.yamlio import load_yaml

SPEC = """\
name: trust
policy:
  builtin: shard
  params:
    b0: 0.5
    coefficients: {euc_dist_cheese_top_right: -2.0, steps_between_cheese_decision_square: -1.0}
mazes: {n: 300, seed: 4, require_decision_square: true, exclude_cheese_top_right: 5}
rollouts: {per_maze: 1, max_steps: 200, actions: sample, seed: 0}
record: {decision_square_probs: true}
"""
MINI = """\
name: mini
filter: {has_decision_square: true, cheese_in_top_right_5x5: false}
outcome: got_cheese
features: [euc_dist_cheese_top_right, steps_between_cheese_decision_square]
models: [logit, vif]
"""
QUESTIONS = """\
questions:
  - id: near-top-right
    text: the closer the cheese to the top-right, the more often it is taken
    source: test
    resolution: {method: auto, analysis: mini, model: logit,
                 quantity: features.euc_dist_cheese_top_right.coef, rule: negative-significant}
  - id: nearly-always
    text: the agent gets the cheese in more than 99% of mazes
    source: test
    resolution: {method: auto, analysis: all-rate, model: rate, quantity: rate, rule: greater-than,
                 threshold: 0.99}
"""
TESTER = """\
forecaster: tester
source: test
made_at: 2026-01-01
forecasts:
  - {question: near-top-right, probability: 0.8}
  - {question: nearly-always, probability: 0.3}
"""
BOB = """\
forecaster: bob
source: after the run
made_at: 2026-01-01
forecasts:
  - {question: near-top-right, probability: 0.95}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """analysis/, predictions/ registered before the run began, and the complete run runs/trust."""
    base = tmp_path_factory.mktemp("world")
    (base / "analysis").mkdir()
    (base / "analysis" / "mini.yaml").write_text(MINI)
    (base / "analysis" / "all-rate.yaml").write_text("name: all-rate\noutcome: got_cheese\nmodels: [rate]\n")
    root = base / "predictions"
    (root / "forecasts").mkdir(parents=True)
    (root / "questions.yaml").write_text(QUESTIONS)
    (root / "forecasts" / "tester.yaml").write_text(TESTER)
    register(root)
    time.sleep(1.1)  # run start times are whole seconds: begin strictly after the registrations
    (base / "spec.yaml").write_text(SPEC)
    run_experiment(load_spec(base / "spec.yaml"), base / "runs")
    return base


@pytest.fixture
def here(world, tmp_path) -> Path:
    for name in ("analysis", "predictions", "runs"):
        shutil.copytree(world / name, tmp_path / name)
    shutil.copy(world / "spec.yaml", tmp_path / "spec.yaml")
    return tmp_path


def OUT(here: Path) -> list[str]:
    """resolve's --out: one folder beside the runs for every run a test resolves."""
    return ["--out", str(here / "resolved")]


def scored(root: Path, *paths: Path, **kw):
    reg = load_registry(root)
    return forecast_table(reg, load_resolutions(list(paths), registry=reg), **kw)


def events(root: Path) -> list[dict]:
    return [e.content for e in read_lock(root)[0] if e.item.startswith("resolution:")]


def test_resolve_appends_one_event_per_question_and_scores_on_time(here, capsys):
    root, run = here / "predictions", here / "runs" / "trust"
    lock = (root / "registry.lock").read_bytes()
    with pytest.raises(UsageError, match=f"the output folder {run}/resolved is inside the run {run}"):
        resolve_run(root, run, run / "resolved")  # resolve writes nothing into a run: refused first
    assert (root / "registry.lock").read_bytes() == lock and not (run / "resolved").exists()
    path = resolve_run(root, run, here / "resolved")
    found = events(root)
    assert [(e["question"], e["outcome"]) for e in found] == [
        ("near-top-right", "yes"),
        ("nearly-always", "no"),
    ]
    manifest = json.loads((run / "manifest.json").read_text())
    assert (
        found[0]["spec_hash"] == manifest["spec_hash"]
        and found[0]["run_started_at"] == manifest["started_at"]
    )
    assert set(found[0]["fits"]) == {"mini"} and len(found[0]["fits"]["mini"]) == 64
    before = (root / "registry.lock").read_bytes()
    resolve_run(root, run, here / "resolved")  # the same run, fits and outcomes again: nothing new
    assert (root / "registry.lock").read_bytes() == before
    assert verify(root) == []
    t = scored(root, path).set_index("question")
    assert t["y"].to_dict() == {"near-top-right": 1.0, "nearly-always": 0.0}
    assert not t["late"].any() and not t["unregistered"].any()
    assert main(["predictions", "verify", str(root)]) == 0
    assert "ok: 4 registered items unchanged, 2 resolution events, 2 evidence events; 8 lock lines" in (
        capsys.readouterr().out
    )


def test_a_rule_edited_after_the_results_needs_amend_and_is_late(here, capsys):
    """Hostile case: a registered question whose rule was edited after results were known was applied."""
    root, run = here / "predictions", here / "runs" / "trust"
    resolve_run(root, run, here / "resolved")  # the results are known: the lock dates them
    q = root / "questions.yaml"
    q.write_text(q.read_text().replace("rule: negative-significant", "rule: positive-significant"))
    with pytest.raises(IntegrityError) as err:
        resolve_run(root, run, here / "resolved", allow_late=True)
    (line,) = str(err.value).splitlines()[1:]
    assert line.startswith(f"{q}:2:1: question:near-top-right: edited since its registration at 20")
    assert line.endswith('resolution.rule: "negative-significant" -> "positive-significant"')
    assert main(["resolve", "--predictions", str(root), "--run", str(run), *OUT(here)]) == 1  # a check
    capsys.readouterr()
    assert register(root, amend=True) == ["question:near-top-right"]
    with pytest.raises(MazeprobeError, match=r"question:near-top-right: registered 20.*, after run .* began"):
        resolve_run(root, run, here / "resolved")
    path = resolve_run(root, run, here / "resolved", allow_late=True)
    t = scored(root, path).set_index("question")
    assert t.loc["near-top-right", "outcome"] == "no"  # the amended rule, marked: its rule is late
    assert t["rule_late"].to_dict() == {"near-top-right": True, "nearly-always": False}
    assert not t["late"].any()  # the forecasts themselves were registered before the run


def test_rerunning_the_same_spec_into_a_new_directory_does_not_make_a_late_forecast_early(here):
    """Hostile case: lateness was measured from one run directory's start."""
    root, run = here / "predictions", here / "runs" / "trust"
    (root / "forecasts" / "bob.yaml").write_text(BOB)
    assert register(root) == ["forecast:bob:near-top-right"]  # after the run began: late
    with pytest.raises(MazeprobeError, match="forecast:bob:near-top-right: registered"):
        resolve_run(root, run, here / "resolved")
    resolve_run(root, run, here / "resolved", allow_late=True)
    time.sleep(1.1)
    rerun = run_experiment(load_spec(here / "spec.yaml"), here / "again")  # identical spec, begun later
    spec_hash = json.loads((run / "manifest.json").read_text())["spec_hash"]
    assert json.loads((rerun / "manifest.json").read_text())["spec_hash"] == spec_hash
    with pytest.raises(
        MazeprobeError, match=f"forecast:bob:near-top-right: registered .*, after run {run} began"
    ):
        resolve_run(root, rerun, here / "resolved")
    path = resolve_run(root, rerun, here / "resolved", allow_late=True)
    late = scored(root, path).set_index(["forecaster", "question"])["late"]
    assert late.to_dict() == {
        ("bob", "near-top-right"): True,
        ("tester", "near-top-right"): False,
        ("tester", "nearly-always"): False,
    }


def test_editing_started_at_or_the_late_list_does_not_remove_the_flag(here):
    """Hostile case: editing a manifest's started_at or resolutions.yaml's late: list removed the flag."""
    root, run = here / "predictions", here / "runs" / "trust"
    (root / "forecasts" / "bob.yaml").write_text(BOB)
    register(root)
    path = resolve_run(root, run, here / "resolved", allow_late=True)
    assert "forecast:bob:near-top-right" in load_yaml(path).data["late"]
    path.write_text(
        path.read_text().replace("- forecast:bob:near-top-right\n", "").replace("late:\n", "late: []\n")
    )
    assert load_yaml(path).data["late"] == []
    manifest = run / "manifest.json"
    doc = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(doc | {"started_at": "2099-01-01T00:00:00Z"}))
    assert scored(root, path).set_index("forecaster").loc["bob", "late"]
    # resolving again from the edited manifest: the lock already dates the evidence
    with pytest.raises(MazeprobeError, match="forecast:bob:near-top-right: registered"):
        resolve_run(root, run, here / "resolved")


def entry_line(path: Path, qid: str) -> int:
    return path.read_text().splitlines().index(f"- question: {qid}") + 1


def test_an_auto_resolution_must_prove_itself_on_its_run(here):
    root, run = here / "predictions", here / "runs" / "trust"
    path = resolve_run(root, run, here / "resolved")
    original = path.read_text()
    line = entry_line(path, "near-top-right")

    def refused(text: str, why: str) -> None:
        path.write_text(text)
        for kw in ({}, {"include_unregistered": True}):  # refused even then
            with pytest.raises(IntegrityError) as err:
                scored(root, path, **kw)
            found = [ln for ln in str(err.value).splitlines()[1:] if "near-top-right" in ln]
            assert len(found) == 1 and found[0].startswith(f"{path}:{line}:1: resolution of near-top-right: ")
            assert why in found[0], found

    refused(
        original.replace("outcome: 'yes'", "outcome: 'no'", 1), "the file says no, but the registered rule"
    )
    spec_hash = load_yaml(path).data["run_spec_hash"]
    refused(original.replace(spec_hash, "0" * 64), f"is not the run's spec_hash {spec_hash}")
    bare = re.sub(r"  analysis_hash: \w+\n", "", original, count=1)  # a bare outcome: which fit?
    refused(bare, "names no analysis_hash for plan mini")
    # the file's own evidence text is never shown: the table recomputes it from the fit
    path.write_text(original.replace("logit coef", "forged coef", 1))
    row = scored(root, path).set_index("question").loc["near-top-right"]
    assert row["evidence"].startswith("logit coef ") and row["outcome"] == "yes"
    # a fit edited after resolve (and the file made to agree with it): no registered event says so
    fit = here / "resolved" / "analyses" / "mini" / "result.json"
    doc = json.loads(fit.read_text())
    feature = doc["models"]["logit"]["features"]["euc_dist_cheese_top_right"]
    feature |= {"coef": 1.0, "ci_low": 0.5, "ci_high": 1.5}
    fit.write_text(json.dumps(doc))
    path.write_text(original.replace("outcome: 'yes'", "outcome: 'no'", 1))
    with pytest.raises(
        IntegrityError, match="resolution:near-top-right: no resolution event .* a fit changed"
    ):
        scored(root, path)
    assert scored(root, path, include_unregistered=True).set_index("question")["unregistered"].to_dict() == {
        "near-top-right": True,
        "nearly-always": False,
    }
    # resolving again does not launder the edited fit into a new event: it is refitted
    forged = file_sha256(fit)
    resolve_run(root, run, here / "resolved")
    assert json.loads(fit.read_text())["models"]["logit"]["features"]["euc_dist_cheese_top_right"]["coef"] < 0
    mini = [(e["outcome"], e["fits"]["mini"]) for e in events(root) if e["question"] == "near-top-right"]
    assert ("yes", file_sha256(fit)) in mini and all(sha != forged for _, sha in mini)
    kept = here / "resolutions.yaml"  # the file kept, its run gone
    kept.write_text(original)
    shutil.rmtree(run)
    with pytest.raises(IntegrityError, match=f"{kept}:{line}:1: .* the run directory {run} does not exist"):
        scored(root, kept, include_unregistered=True)


def test_a_resolutions_file_the_lock_never_saw_is_unregistered(here, capsys):
    root, run = here / "predictions", here / "runs" / "trust"
    elsewhere = here / "elsewhere"
    shutil.copytree(root, elsewhere)  # the same registrations, another lock: resolve runs there only
    path = resolve_run(elsewhere, run, here / "resolved")
    with pytest.raises(IntegrityError) as err:
        scored(root, path)
    assert str(err.value).count("no resolution event") == 2
    args = ["--predictions", str(root), "--resolutions", str(path)]
    assert main(["score", *args]) == 1
    assert main(["score", *args, "--include-unregistered", "--format", "json", "--n-boot", "20"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["forecasters"] == {} and scores["unregistered"]["tester"]["n_resolved"] == 2
    # resolve with --include-unregistered resolves an edited question by its current rule, scored apart
    q = root / "questions.yaml"
    q.write_text(q.read_text().replace("threshold: 0.99", "threshold: 0.01"))
    assert main(["resolve", "--predictions", str(root), "--run", str(run), *OUT(here)]) == 1
    assert "question:nearly-always: edited since its registration" in capsys.readouterr().err
    assert main(["resolve", "--predictions", str(root), "--run", str(run), *OUT(here),
                 "--include-unregistered"]) == 0
    own = here / "resolved" / "resolutions.yaml"
    t = scored(root, own, include_unregistered=True).set_index("question")
    assert t.loc["nearly-always", "outcome"] == "yes" and t.loc["nearly-always", "unregistered"]
    assert not t.loc["near-top-right", "unregistered"]


def test_a_refused_resolve_dates_the_design_so_a_rerun_cannot_wash_lateness_out(here, capsys):
    """Hostile case (issue 21): run1 shown and refused (nothing decided), then the same spec run again into
    run2 and resolved: the hindsight forecaster was accepted as timely and ranked first."""
    root, run = here / "predictions", here / "runs" / "trust"
    (root / "forecasts" / "bob.yaml").write_text(BOB)
    assert register(root) == ["forecast:bob:near-top-right"]  # after run1 began
    with pytest.raises(MazeprobeError, match="forecast:bob:near-top-right: registered"):
        resolve_run(root, run, here / "resolved")
    # refused, yet the lock now dates the design it was shown (and holds no resolution event)
    lines = read_lock(root)[0]
    shown = [e.content for e in lines if e.item.startswith("evidence:")]
    spec_hash = json.loads((run / "manifest.json").read_text())["spec_hash"]
    assert [e["design"].split(":")[0] for e in shown] == ["spec", "mazes"]
    assert shown[0]["design"] == f"spec:{spec_hash}"
    assert shown[0]["run"] == str(run) and set(shown[0]["files"]) >= {"episodes.parquet", "manifest.json"}
    assert shown[0]["files"]["episodes.parquet"] == file_sha256(run / "episodes.parquet")
    assert not events(root) and verify(root) == []
    time.sleep(1.1)
    rerun = run_experiment(load_spec(here / "spec.yaml"), here / "again")
    with pytest.raises(MazeprobeError, match=f"forecast:bob:near-top-right: registered .*, after run {run} "):
        resolve_run(root, rerun, here / "resolved")
    assert main(["resolve", "--predictions", str(root), "--run", str(rerun), *OUT(here)]) == 2
    assert "after run" in capsys.readouterr().err


def test_a_run_only_fitted_for_the_registry_dates_its_design(here, capsys):
    """Hostile case: the first run was only looked at with fit; a rerun was then resolved."""
    root, run = here / "predictions", here / "runs" / "trust"
    plan = here / "analysis" / "mini.yaml"
    assert main(["fit", str(run), "--plan", str(plan), "--predictions", str(root)]) == 0
    assert "2 evidence event(s) dating this run's design" in capsys.readouterr().out  # its spec, its mazes
    assert main(["fit", str(run), "--plan", str(plan), "--predictions", str(root)]) == 0  # known: no new line
    assert "evidence event" not in capsys.readouterr().out
    (root / "forecasts" / "bob.yaml").write_text(BOB)
    register(root)  # after the look
    time.sleep(1.1)
    rerun = run_experiment(load_spec(here / "spec.yaml"), here / "again")
    with pytest.raises(MazeprobeError, match=f"forecast:bob:near-top-right: registered .*, after run {run} "):
        resolve_run(root, rerun, here / "resolved")
    table = here / "table.parquet"  # a bare table has no design to date
    shutil.copy(run / "episodes.parquet", table)
    assert main(["fit", str(table), "--plan", str(plan), "--predictions", str(root)]) == 2
    assert "only a run has a design the registry can date" in capsys.readouterr().err


def test_a_late_forecaster_is_never_ranked_among_timely_ones(here, capsys):
    """Hostile case: with --allow-late, a hindsight forecaster topped the leaderboard unmarked."""
    root, run = here / "predictions", here / "runs" / "trust"
    (root / "forecasts" / "bob.yaml").write_text(BOB)
    register(root)
    path = resolve_run(root, run, here / "resolved", allow_late=True)
    args = ["--predictions", str(root), "--resolutions", str(path), "--n-boot", "20", "--n-perm", "20"]
    assert main(["score", *args, "--format", "json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores["forecasters"]) == {"tester"} and scores["forecasters"]["tester"]["late"] is False
    assert set(scores["late"]) == {"bob"} and scores["late"]["bob"]["late"] is True
    assert scores["late"]["bob"]["questions"]["near-top-right"]["late"] is True
    assert scores["pairwise"] == []  # bob is compared with no one
    assert main(["score", *args]) == 0
    text = capsys.readouterr().out
    board, apart = text.split("late (registered after the first evidence")
    assert "tester" in board and "bob" not in board and "bob" in apart and apart.count(" late") >= 1
    for suffix in ("md", "html"):
        out = here / f"report.{suffix}"
        assert main(["report", *args, "--out", str(out)]) == 0
        page = out.read_text()
        board = page[: page.index("Late forecasts (not ranked)")]
        assert "tester" in board and "bob" not in board
    capsys.readouterr()


def test_an_outcome_of_a_rule_amended_late_is_left_out_of_the_ranking_unless_allowed(here, capsys):
    root, run = here / "predictions", here / "runs" / "trust"
    resolve_run(root, run, here / "resolved")
    q = root / "questions.yaml"
    q.write_text(q.read_text().replace("threshold: 0.99", "threshold: 0.01"))
    register(root, amend=True)
    path = resolve_run(root, run, here / "resolved", allow_late=True)
    args = ["--predictions", str(root), "--resolutions", str(path), "--n-boot", "20", "--format", "json"]
    assert main(["score", *args]) == 0
    scores = json.loads(capsys.readouterr().out)
    ranked = scores["forecasters"]["tester"]["questions"]
    assert set(ranked) == {"near-top-right"}  # the amended question's outcome is apart
    assert scores["late"]["tester"]["questions"]["nearly-always"]["rule_late"] is True
    assert main(["score", *args, "--allow-late"]) == 0
    allowed = json.loads(capsys.readouterr().out)["forecasters"]["tester"]["questions"]
    assert set(allowed) == {"near-top-right", "nearly-always"} and allowed["nearly-always"]["rule_late"]


def test_an_amendment_to_a_new_design_registered_before_its_first_run_is_timely(here):
    """Re-operationalizing in the open: a rule amended after results on one design, decided on a design
    (new mazes) whose first run began after the amendment, is timely; on the old mazes it is late."""
    root, run = here / "predictions", here / "runs" / "trust"
    resolve_run(root, run, here / "resolved")
    q = root / "questions.yaml"
    q.write_text(q.read_text().replace("threshold: 0.99", "threshold: 0.5"))
    register(root, amend=True)
    with pytest.raises(MazeprobeError, match="question:nearly-always: registered"):
        resolve_run(root, run, here / "resolved")  # the same mazes: the amendment came after their results
    renamed = (here / "spec.yaml").read_text().replace("name: trust", "name: renamed")
    (here / "renamed.yaml").write_text(renamed)
    time.sleep(1.1)
    same_mazes = run_experiment(load_spec(here / "renamed.yaml"), here / "again")
    with pytest.raises(MazeprobeError, match="question:nearly-always: registered"):
        resolve_run(root, same_mazes, here / "resolved")  # a new name is not a new design: mazes seen
    more = renamed.replace("name: renamed", "name: more").replace("n: 300", "n: 301")
    (here / "more.yaml").write_text(more)
    one_more = run_experiment(load_spec(here / "more.yaml"), here / "more")
    with pytest.raises(MazeprobeError, match="question:nearly-always: registered"):
        resolve_run(root, one_more, here / "resolved")  # one maze more of the same sample: 300 seen
    (here / "fresh.yaml").write_text(renamed.replace("seed: 4", "seed: 5"))
    fresh = run_experiment(load_spec(here / "fresh.yaml"), here / "fresh")
    path = resolve_run(root, fresh, here / "resolved")  # new mazes, run after the amendment: no late item
    t = scored(root, path).set_index("question")
    assert not t["late"].any() and not t["rule_late"].any()
    assert scored(root, path).attrs["amendments"]["nearly-always"]["after"]["threshold"] == 0.5
    # the outcome the earlier criteria reached stays, with its evidence, shown as superseded
    [old] = scored(root, path).attrs["superseded"]
    assert (old["question"], old["outcome"], old["criteria"]["threshold"]) == ("nearly-always", "no", 0.99)
    assert old["evidence"].startswith("rate ") and "is not above 0.99" in old["evidence"]


def test_an_outcome_changed_by_a_change_of_the_rules_is_listed_with_both_values(here, capsys):
    """Re-resolving in the open: an event decided under the old rules on the same evidence stays in the
    lock, and the report lists the outcome's old and new value and why."""
    from mazeprobe.registry.items.lock import append_items

    root, run = here / "predictions", here / "runs" / "trust"
    path = resolve_run(root, run, here / "resolved")
    [now] = [e for e in events(root) if e["question"] == "nearly-always"]
    assert now["rules_version"] == RULES_VERSION and now["outcome"] == "no"
    old = {k: v for k, v in now.items() if k != "rules_version"} | {"outcome": "yes"}  # as the v1 rules said
    append_items(root, [("resolution:nearly-always", old)])
    [changed] = scored(root, path).attrs["changed"]
    assert (changed["question"], changed["before"], changed["after"]) == ("nearly-always", "yes", "no")
    assert changed["before_rules"] == 1 and changed["after_rules"] == RULES_VERSION
    # a version in between that already gave today's outcome: the change is credited to it, not to later
    between = {k: v for k, v in now.items()} | {"rules_version": 2}
    append_items(root, [("resolution:nearly-always", between)])
    [changed] = scored(root, path).attrs["changed"]
    assert (changed["before_rules"], changed["after_rules"]) == (1, 2)
    assert "issue 18" in changed["why"] and "a review of round 2" not in changed["why"]
    assert changed["why"].startswith("decisions on intervals")
    out = here / "report.md"
    assert main(["report", "--predictions", str(root), "--resolutions", str(path), "--out", str(out),
                 "--n-boot", "20"]) == 0  # fmt: skip
    section = out.read_text().split("## Outcomes changed by a change of the rules")[1]
    pattern = r"\| nearly-always \| yes · \S+ \S+ \(rules v1\) \| no · \S+ \S+ \(rules v2\) \|"
    assert re.search(pattern, section)
    capsys.readouterr()
