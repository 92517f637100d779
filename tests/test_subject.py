"""A registry's subject network: outcomes measured on it are ranked; outcomes measured on any other network
are scored apart, per network, under a heading that names the stand-in. Real runs of two real (random)
networks on the same mazes; the subject's sha256 is registered by amendment."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest

from mazeprobe.agents.impala import random_impala, save_checkpoint
from mazeprobe.cli import main
from mazeprobe.experiments.run import run_experiment
from mazeprobe.experiments.spec import load_spec
from mazeprobe.provenance import file_sha256
from mazeprobe.registry import forecast_table, load_registry, load_resolutions, register, validate_registry
from mazeprobe.registry.resolution.resolve import resolve_run
from mazeprobe.registry.scoring.scores import score_table, scores_text

SPEC = """\
name: {name}
policy: {{checkpoint: {checkpoint}}}
mazes: {{n: 40, seed: 7, require_decision_square: true, exclude_cheese_top_right: 5}}
rollouts: {{per_maze: 1, max_steps: 20, actions: sample, seed: 0}}
"""
SUBJECT = """\
subject:
  name: the network of the literature
  sha256: {sha}
  trained: PPO, scale 4
  fingerprint: {{median_p_cheese_at_dsq: 0.81, got_cheese_dsq_test: 0.714,
                entered_top_right_5x5_without_cheese: null}}
  source: "Turner et al. 2023"
"""
QUESTIONS = """\
questions:
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
  - {question: nearly-always, probability: 0.2}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Two checkpoints, a registry with a subject whose sha256 is unknown, and a run of each network."""
    base = tmp_path_factory.mktemp("subject")
    (base / "analysis").mkdir()
    (base / "analysis" / "all-rate.yaml").write_text("name: all-rate\noutcome: got_cheese\nmodels: [rate]\n")
    root = base / "predictions"
    (root / "forecasts").mkdir(parents=True)
    (root / "questions.yaml").write_text(SUBJECT.format(sha="null") + QUESTIONS)
    (root / "forecasts" / "tester.yaml").write_text(TESTER)
    assert register(root) == ["subject", "question:nearly-always", "forecast:tester:nearly-always"]
    time.sleep(1.1)
    for name, seed in (("a", 0), ("b", 1)):
        ckpt = save_checkpoint(random_impala(1, seed=seed), base / f"{name}.pth")
        (base / f"{name}.yaml").write_text(SPEC.format(name=name, checkpoint=ckpt))
        run_experiment(load_spec(base / f"{name}.yaml"), base / "runs")
    return base


@pytest.fixture
def here(world, tmp_path) -> Path:
    for name in ("analysis", "predictions", "runs"):
        shutil.copytree(world / name, tmp_path / name)
    for name in ("a.pth", "b.pth"):
        shutil.copy(world / name, tmp_path / name)
    return tmp_path


def table(root: Path, *paths: Path):
    reg = load_registry(root)
    return forecast_table(reg, load_resolutions(list(paths), registry=reg))


def test_the_subject_is_registered_and_checked(here):
    root = here / "predictions"
    subject = load_registry(root).subject
    assert subject.name == "the network of the literature" and subject.sha256 is None
    assert subject.fingerprint["entered_top_right_5x5_without_cheese"] is None
    q = root / "questions.yaml"
    text = q.read_text()
    bad = text.replace("sha256: null", "sha256: ABC").replace("median_p_cheese_at_dsq", "median_p_chese")
    q.write_text(bad)
    found = [p.message for p in validate_registry(root)]
    assert any(m.startswith("subject.sha256: must be null or 64 lower-case hex digits; got") for m in found)
    assert any(m.startswith("subject.fingerprint.median_p_chese: unknown measure (did you") for m in found)
    q.write_text(text.replace("sha256: null", "sha256: " + "a" * 64))
    assert main(["predictions", "register", str(root)]) == 2  # edited since registration: --amend
    assert register(root, amend=True) == ["subject"]


def test_outcomes_on_the_subject_are_ranked_and_a_stand_in_s_are_scored_apart(here, capsys):
    root = here / "predictions"
    run_a, run_b = here / "runs" / "a", here / "runs" / "b"
    path_a = resolve_run(root, run_a, here / "resolved" / "a")
    # the subject's sha256 is unknown: nothing can be on it; run a's network is a stand-in
    t = table(root, path_a)
    row = t.iloc[0]
    assert row["network_sha256"] == file_sha256(here / "a.pth") and row["on_subject"] is False
    scores = score_table(t, n_boot=20, n_perm=20)
    assert scores["forecasters"]["tester"]["n_resolved"] == 0
    [net] = scores["networks"]
    assert net["on_subject"] is False and net["forecasters"]["tester"]["n_resolved"] == 1
    q = net["forecasters"]["tester"]["questions"]["nearly-always"]
    assert q["on_subject"] is False and q["network_sha256"] == file_sha256(here / "a.pth")
    text = scores_text(scores)
    assert text.startswith("subject: the network of the literature (sha256 unknown)")
    assert re.search(r"on a stand-in network, not the subject: \S*a\.pth \(sha256 [0-9a-f]{12}\)", text)
    # the subject's sha256 registered as network a's: a's outcome is on the subject, b's on a stand-in
    qfile = root / "questions.yaml"
    qfile.write_text(qfile.read_text().replace("sha256: null", f"sha256: {file_sha256(here / 'a.pth')}"))
    assert register(root, amend=True) == ["subject"]
    on = score_table(table(root, path_a), n_boot=20, n_perm=20)
    assert on["forecasters"]["tester"]["n_resolved"] == 1 and on["networks"][0]["on_subject"] is True
    path_b = resolve_run(root, run_b, here / "resolved" / "b")
    off = score_table(table(root, path_b), n_boot=20, n_perm=20)
    assert off["forecasters"]["tester"]["n_resolved"] == 0
    assert off["networks"][0]["network_sha256"] == file_sha256(here / "b.pth")
    args = ["--predictions", str(root), "--resolutions", str(path_b), "--n-boot", "20", "--n-perm", "20"]
    assert main(["score", *args, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["subject"]["sha256"] == file_sha256(here / "a.pth")
    assert doc["networks"][0]["forecasters"]["tester"]["questions"]["nearly-always"]["on_subject"] is False
    md = here / "report.md"
    assert main(["report", *args, "--out", str(md)]) == 0
    page = md.read_text()
    assert "## The subject and the networks measured" in page
    assert "## Scores on a stand-in network: " in page and "b.pth" in page
    assert "| got_cheese_dsq_test | 0.714 |" in page and "not published" in page
    assert "(stand-in)" in page  # the outcome is marked


def test_a_registry_without_a_subject_behaves_as_before(here):
    root = here / "predictions"
    qfile = root / "questions.yaml"
    qfile.write_text(QUESTIONS)
    (root / "registry.lock").unlink()
    register(root)
    path = resolve_run(root, here / "runs" / "a", here / "resolved", allow_late=True)
    t = table(root, path)
    assert t.iloc[0]["on_subject"] is None and t.attrs["subject"] is None
    scores = score_table(t, n_boot=20, n_perm=20, allow_late=True)
    assert scores["subject"] is None and not scores_text(scores).startswith("subject")


def test_the_shipped_subject_is_the_published_network_with_its_published_fingerprint():
    from mazeprobe.agents.fingerprint import PUBLISHED_FINGERPRINT, PUBLISHED_NETWORK

    subject = load_registry(Path(__file__).parents[1] / "predictions").subject
    assert subject.name == PUBLISHED_NETWORK and subject.sha256 is None  # nobody here holds the file
    assert subject.fingerprint == {k: v["value"] for k, v in PUBLISHED_FINGERPRINT.items()}
