"""An edit kind is one class: its settings (fields declared with mazeprobe.settings.setting: the keys of
its spec entry, their defaults, help and checks), `prepare`, and the checks against a network and mazes
(`fit_problems`). These tests hold the shipped kinds to that, and
show the whole path for a new kind: registered, read from a spec, refused with its own keys, and
applied to a real network in a real vector field (the test to copy for a new kind)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import torch

from mazeprobe.agents.edits import (
    EDITS,
    Channels,
    CheeseVector,
    Clamp,
    Edit,
    EditContext,
    MeanAblate,
    edit_from_spec,
    prepare_edits,
    register,
)
from mazeprobe.agents.edits.base import number, required_channels
from mazeprobe.agents.impala import random_impala
from mazeprobe.agents.obs import obs_to_tensor
from mazeprobe.agents.patches import Patch
from mazeprobe.experiments.intervention_spec import family_hash
from mazeprobe.experiments.spec import load_spec
from mazeprobe.maze.sampling import SampleSpec, sample_mazes
from mazeprobe.settings import setting, settings_of
from mazeprobe.sim import Roller, start_states
from mazeprobe.yamlio import SpecError

REPO = Path(__file__).resolve().parent.parent
L = "embedder.block2.res1.resadd_out"


# --- a new kind: one class (in the package, it would sit in a family module under @register) ---------


@dataclass(frozen=True)
class ChannelShift(Edit):
    """Add `amount` to every position of a channel set."""

    channels: Channels = required_channels()
    amount: float = setting(1.0, "the number added (default {default})", check=number)
    kind: ClassVar[str] = "channel-shift"

    def prepare(self, ctx: EditContext) -> Patch:
        mask = ctx.channel_mask(self.layer, self.channels.resolve(ctx.rankings.get(self.layer)))
        return Patch(self.layer, add=self._repeat(ctx, mask.float() * self.amount))


@pytest.fixture
def shift():
    # registered for one test only: every message that lists the kinds would otherwise name it
    register(ChannelShift)
    yield ChannelShift
    del EDITS[ChannelShift.kind]


def _spec(tmp_path: Path, entry: str) -> Path:
    path = tmp_path / "spec.yaml"
    model = REPO / "models" / "reference-r5.pth"
    path.write_text(
        f"kind: experiment\nname: shift\npolicy: {{checkpoint: {model}}}\nmazes: {{n: 2, seed: 0}}\n"
        f"interventions:\n  - {entry}\n"
    )
    return path


def test_a_new_kind_is_read_refused_and_applied_by_its_one_class(shift, tmp_path):
    spec = load_spec(
        _spec(tmp_path, f"{{id: up, edit: channel-shift, layer: {L}, channels: [3, 5], amount: 40}}")
    )
    (edit,) = spec.interventions[0].edits
    assert edit == ChannelShift(L, Channels((3, 5)), 40)
    assert edit_from_spec(edit.to_spec()) == edit
    unknown = r"\.amout: unknown key \(did you mean 'amount'\?\); allowed: id, edit, layer, channels, amount$"
    with pytest.raises(SpecError, match=unknown):
        load_spec(_spec(tmp_path, f"{{id: up, edit: channel-shift, layer: {L}, channels: [3], amout: 2}}"))
    with pytest.raises(SpecError, match=r"interventions\[0\]: missing key 'channels' \(a list of channels"):
        load_spec(_spec(tmp_path, f"{{id: up, edit: channel-shift, layer: {L}}}"))
    with pytest.raises(SpecError, match=r"interventions\[0\]\.amount: must be a finite number; got str 'x'"):
        load_spec(_spec(tmp_path, f"{{id: up, edit: channel-shift, layer: {L}, channels: [3], amount: x}}"))
    assert ChannelShift.key_help()["amount"] == "the number added (default 1)"

    # applied to a real network: the layer's activations move by exactly `amount` in those channels
    from mazeprobe.agents.network import NetworkPolicy
    from mazeprobe.experiments.vfield import vector_fields

    net, roller = random_impala(4, 0).eval(), Roller(2)
    mazes = sample_mazes(SampleSpec(n=2, seed=0))
    prepared = prepare_edits(edit, net, mazes.iloc[:1], roller)
    with torch.no_grad():
        act = net.forward_to(
            obs_to_tensor(roller.render(start_states(mazes.iloc[:1], roller.loader)), "cpu"), L
        )
        moved = prepared.apply(L, act, None) - act
    np.testing.assert_allclose(moved[0, [3, 5]].numpy(), 40.0, atol=1e-4)
    assert float(moved[0, [c for c in range(act.shape[1]) if c not in (3, 5)]].abs().max()) == 0.0
    # and in a vector field: nothing moves with amount 0, the policy changes with amount 40
    policy = NetworkPolicy(net)
    cols = ["p_up", "p_down", "p_left", "p_right"]
    plain = vector_fields(policy, mazes, roller)
    unmoved = vector_fields(policy, mazes, roller, ChannelShift(L, Channels((3, 5)), 0.0))
    shifted = vector_fields(policy, mazes, roller, edit)
    np.testing.assert_allclose(unmoved[cols].to_numpy(), plain[cols].to_numpy(), atol=1e-6)
    assert np.abs(shifted[cols].to_numpy() - plain[cols].to_numpy()).max() > 1e-3


def test_a_kind_with_a_field_that_is_not_a_setting_is_refused():
    @dataclass(frozen=True)
    class Forgot(Edit):
        amount: float = 1.0
        kind: ClassVar[str] = "forgot"

    with pytest.raises(TypeError, match=r"Forgot: every field is a setting .*; declare amount with setting"):
        register(Forgot)
    with pytest.raises(TypeError, match="no other kind has; got 'clamp'"):
        register(Clamp)
    assert "forgot" not in EDITS


def test_every_problem_of_an_entry_is_listed_in_the_order_of_its_settings(tmp_path):
    # the layer first (a list is a message, not a TypeError), then the kind's settings in field order
    with pytest.raises(SpecError) as info:
        load_spec(_spec(tmp_path, "{id: m, edit: mean-ablate, layer: [1, 2], n: 0, seed: x, extra: 1}"))
    assert [line.split(": ", 1)[1] for line in str(info.value).splitlines()] == [
        "interventions[0].extra: unknown key; allowed: id, edit, layer, channels, n, seed",
        "interventions[0].layer: unknown activation [1, 2]; e.g. embedder.block2.res1.resadd_out",
        "interventions[0]: missing key 'channels' (a list of channels or {ranking: cheese-channels, top: K})",
        "interventions[0].n: must be between 1 and 10000; got 0",
        "interventions[0].seed: must be an integer; got str 'x'",
    ]


def test_every_kind_declares_one_key_per_setting_and_writes_its_defaults_once():
    assert list(EDITS) == ["add", "cheese-vector", "top-right-vector", "zero-ablate", "mean-ablate",
                           "resample", "clamp", "cheese-at-target"]  # fmt: skip
    for cls in EDITS.values():
        assert list(settings_of(cls)) == [f.name for f in fields(cls)], cls.kind
        assert all("{default}" not in text for text in cls.key_help().values()), cls.kind
    assert CheeseVector.key_help()["coefficient"] == "a number (default -1)"
    assert MeanAblate.key_help() == {
        "channels": "a list of channels or {ranking: cheese-channels, top: K}",
        "n": "mazes the mean is taken over (default 100)",
        "seed": "their sampling seed (default 0)",
    }
    assert Clamp.key_help()["value"].startswith("the value written (default 5.5), or {times_cheese_response")
    assert Clamp.key_help()["sign"].startswith("none | ranking (default none: the value in every channel)")


FAMILIES = {
    "model-editing.yaml": "13634d2972f49aa224d49de85a2e2cfbff5d70cf561ccb0a127411a846a27a18",
    "model-editing-r2.yaml": "2f6295d2f4eab163b49d17619522f054f85d8dc3126c4929a861173d66cd016f",
    "retargeting-r2.yaml": "f81b858c7fa65e909667fae07175b7674a5c0989da38e0840faec9397851de1c",
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_the_shipped_families_keep_their_hashes(name):
    # computed before the edit kinds moved their keys onto their classes: registered questions name them
    assert family_hash(load_spec(REPO / "analysis" / name).to_dict()) == FAMILIES[name]


def test_fit_problems_are_the_kinds_own():
    mazes = pd.DataFrame(sample_mazes(SampleSpec(n=3, seed=0)))
    clamp = Clamp(L, Channels((200,)), at=(40, 0))
    got = clamp.fit_problems((15,), mazes)
    assert [key for key, _ in got] == ["channels", "layer", "at"]
    assert got[0][1] == f"channels [200] do not exist at {L}, which has channels 0..14 in this network"
    assert got[2][1].startswith("square (40, 0) is outside 3 of the 3 mazes")
    assert CheeseVector(L, at=(40, 0), source_seed=5).fit_problems((128, 16, 16), mazes) == []
