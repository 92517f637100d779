"""The shipped reference network (models/reference-r5.pth): it loads with the published loader, and its
decision-square probabilities on fixed mazes have not changed (a regression test; regenerate the numbers
only when the checkpoint is retrained on purpose)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mazeprobe.agents.impala import count_parameters, load_checkpoint
from mazeprobe.agents.network import NetworkPolicy
from mazeprobe.maze.sampling import SampleSpec, sample_mazes
from mazeprobe.sim import Roller, maze_batch, start_states

CHECKPOINT = Path(__file__).resolve().parent.parent / "models" / "reference-r5.pth"
# Natural placement, a decision square, cheese outside the top-right 5x5 (sampling seed 11):
# P(cheese-ward move) and P(top-right-ward move) with the mouse on the decision square.
SEEDS = [1547687061, 2098912640, 639294222, 421431763, 1552218801, 1178077909]
P_CHEESE = [0.99873, 0.99494, 0.4238, 0.01212, 0.51402, 0.0]
P_TOP_RIGHT = [0.00127, 0.00454, 0.57614, 0.98786, 0.48538, 0.99999]


def test_the_shipped_checkpoint_loads_with_the_published_loader():
    assert CHECKPOINT.stat().st_size < 10 * 2**20
    model = load_checkpoint(CHECKPOINT)
    assert count_parameters(model) == 626_256  # scale 1
    assert model.embedder.block2.res1.conv1.in_channels == 32


def test_decision_square_probabilities_on_fixed_mazes_are_unchanged():
    table = sample_mazes(
        SampleSpec(
            n=6, seed=11, placement="natural", require_decision_square=True, exclude_cheese_top_right=5
        )
    )
    assert table["seed"].tolist() == SEEDS
    roller = Roller(6)
    frame, _ = roller.decision_square_view(
        NetworkPolicy.from_checkpoint(str(CHECKPOINT)), maze_batch(table), start_states(table, roller.loader)
    )
    # float32 convolutions differ slightly across CPUs and thread counts: 1e-3 is far above that noise
    # and far below any retraining
    np.testing.assert_allclose(frame["p_cheese_at_dsq"], P_CHEESE, atol=1e-3)
    np.testing.assert_allclose(frame["p_top_right_at_dsq"], P_TOP_RIGHT, atol=1e-3)
