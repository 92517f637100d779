"""Measuring interventions on one chunk of a run: the unedited network (`none`) and every listed edit, on
the same mazes with the same rollout draws (a paired design: the action draws are keyed by level seed,
rollout and step, so an edit changes what the mouse does, not the dice).

interventions.parquet has one row per (seed, intervention); its columns, their types and meanings are
mazeprobe.experiments.tables.INTERVENTIONS (the measures: p_cheese_at_dsq, p_top_right_at_dsq, the
rollout rates, steps, vfield_tv; the edit's size: edited_activations and its fractions). An edit aimed
at each retargeting target in turn (`clamp at: target`) has null per-maze measures: its results are in
retargeting.parquet (mazeprobe.experiments.retarget), one row per (seed, intervention,
target), beside the rows of `none` and of the real-cheese `ceiling` on the same targets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mazeprobe.agents.edits import prepare_edits
from mazeprobe.agents.network import NetworkPolicy
from mazeprobe.agents.patches import PreparedEdits
from mazeprobe.experiments import retarget
from mazeprobe.experiments.intervention_spec import CEILING, NONE, InterventionSpec, RetargetingSpec
from mazeprobe.experiments.paired import paired_episodes
from mazeprobe.experiments.tables import INTERVENTIONS, RETARGETING
from mazeprobe.maze.geometry import distance_maps
from mazeprobe.sim import GROUP_MATRIX, MazeBatch, Roller, RolloutSettings, decision_squares, move_toward
from mazeprobe.sim.policy import table_positions

INTERVENTION_COLUMNS = INTERVENTIONS.names
_RATES = ("got_cheese", "reached_top_right_square", "entered_top_right_5x5", "steps")


def _five(probs: np.ndarray) -> np.ndarray:
    """(B, 5): the mass of up, down, left, right and of every action that does not move."""
    moves = probs @ GROUP_MATRIX
    return np.concatenate([moves, 1.0 - moves.sum(1, keepdims=True)], axis=1)


def _per_maze(episodes: pd.DataFrame, seeds: np.ndarray) -> pd.DataFrame:
    rates = episodes.groupby("seed")[list(_RATES)].mean()
    return rates.reindex(seeds)


def _dsq_probs(policy, mazes, renderer, states, variants) -> dict[str, np.ndarray]:
    """name -> (M, 2) P(move toward the cheese), P(move toward the top-right square) on the decision
    square under each variant (NaN without one)."""
    dsq, has = decision_squares(mazes.table, missing=0)
    idx = np.flatnonzero(has)
    out = {name: np.full((len(has), 2), np.nan) for name in variants}
    if not len(idx):
        return out
    obs = renderer.render([states[m].with_mouse(*dsq[m]) for m in idx])
    to_cheese = distance_maps(mazes.grids, mazes.sizes, table_positions(mazes.table, "cheese"))
    to_tr = distance_maps(mazes.grids, mazes.sizes, mazes.top_right_squares())
    mc = move_toward(to_cheese, idx, dsq[idx])
    mt = move_toward(to_tr, idx, dsq[idx])
    probs = policy.action_probs_variants(obs, {n: (p, idx) for n, p in variants.items()})
    rows = np.arange(len(idx))
    for name, p in probs.items():
        groups = p @ GROUP_MATRIX
        out[name][idx] = np.stack([groups[rows, mc], groups[rows, mt]], 1)
    return out


def _vfield_tv(policy, mazes, renderer, states, variants) -> dict[str, np.ndarray]:
    """name -> (M,) mean TV distance from the unedited field over each maze's open squares."""
    obs_states, owner = [], []
    for m in range(len(mazes.table)):
        for r, c in retarget.open_squares(mazes, m):
            obs_states.append(states[m].with_mouse(int(r), int(c)))
            owner.append(m)
    owner = np.asarray(owner, dtype=np.int64)
    obs = renderer.render(obs_states)
    probs = policy.action_probs_variants(
        obs, {NONE: (None, None), **{n: (p, owner) for n, p in variants.items()}}
    )
    base = _five(probs.pop(NONE))
    out = {}
    for name, p in probs.items():
        tv = 0.5 * np.abs(_five(p) - base).sum(1)
        out[name] = np.bincount(owner, weights=tv, minlength=len(mazes.table)) / np.maximum(
            np.bincount(owner, minlength=len(mazes.table)), 1
        )
    return out


def measure(
    policy: NetworkPolicy,
    mazes: MazeBatch,
    states: list,
    none_episodes: pd.DataFrame,
    settings: RolloutSettings,
    interventions: Sequence[InterventionSpec],
    roller: Roller,
    rankings: dict | None = None,
    retargeting: RetargetingSpec | None = None,
    vfield: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The interventions table of one chunk, and its retargeting table (None without retargeting)."""
    model = policy.model
    seeds = mazes.table["seed"].to_numpy(np.int64)
    prepared: dict[str, PreparedEdits] = {}
    for spec in interventions:
        if not spec.per_target:
            prepared[spec.id] = prepare_edits(spec.edits, model, mazes, roller, rankings, states)
    dsq = _dsq_probs(policy, mazes, roller, states, {NONE: None, **prepared})
    tv = _vfield_tv(policy, mazes, roller, states, prepared) if vfield and prepared else {}
    played = paired_episodes(policy, mazes, states, dict(prepared), settings, roller) if prepared else {}
    aimed: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    found = None
    if retargeting is not None:
        found, aimed = _retargeting(
            policy, mazes, states, interventions, prepared, settings, roller, rankings, retargeting
        )
    frames = []
    for spec_id in [NONE, *[s.id for s in interventions]]:
        p = prepared.get(spec_id)
        frame = pd.DataFrame({"seed": seeds, "intervention": spec_id})
        if spec_id in aimed:  # aimed at each target in turn: its results are per target
            for col in ("p_cheese_at_dsq", "p_top_right_at_dsq", *_RATES, "vfield_tv"):
                frame[col] = np.nan
            counts, layer_fraction, network_fraction = aimed[spec_id]
        else:
            frame["p_cheese_at_dsq"], frame["p_top_right_at_dsq"] = dsq[spec_id][:, 0], dsq[spec_id][:, 1]
            rates = _per_maze(none_episodes if p is None else played[spec_id], seeds)
            for col in _RATES:
                frame[col] = rates[col].to_numpy(float)
            frame["vfield_tv"] = tv[spec_id] if spec_id in tv else (0.0 if p is None and vfield else np.nan)
            if p is None:
                counts, layer_fraction, network_fraction = np.zeros(len(seeds), np.int64), 0.0, 0.0
            else:
                counts, (layer_fraction, network_fraction) = p.edited_counts(), p.edited_fractions()
        frame["edited_activations"] = counts
        frame["edited_fraction_layer"], frame["edited_fraction_network"] = layer_fraction, network_fraction
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[list(INTERVENTION_COLUMNS)], found


def _retargeting(
    policy, mazes, natural, interventions, prepared, settings, roller, rankings, spec
) -> tuple[pd.DataFrame, dict]:
    cheese = "remove" if spec.remove_cheese else "keep"
    play = RolloutSettings(
        per_maze=spec.rollouts_per_target,
        max_steps=settings.max_steps,
        actions=settings.actions,
        seed=settings.seed,
    )
    visited = None
    if spec.targets == "off-path":
        visited = retarget.visited_squares(policy, mazes, retarget.maze_states(natural, cheese), play, roller)
    targets = retarget.draw_targets(
        mazes, spec.targets_per_maze, spec.seed, avoid_cheese=cheese == "keep", visited=visited
    )
    contexts = retarget.target_contexts(mazes, targets, cheese)
    states = retarget.played_states(natural, contexts, cheese)
    maze_of = targets["maze"].to_numpy()
    variants: dict[str, tuple[PreparedEdits | None, int | str | None]] = {NONE: (None, None)}
    aimed = {}
    for s in interventions:
        if s.per_target:
            edits = prepare_edits(s.edits, policy.model, contexts, roller, rankings)
            variants[s.id] = (edits, _aim(s, policy))
            aimed[s.id] = _largest_per_maze(edits, maze_of, len(mazes.table))
        else:
            variants[s.id] = (prepared[s.id].take(maze_of), None)
    path = retarget.path_probabilities(policy, contexts, states, roller, variants)
    reach = retarget.reach_rollouts(
        policy, contexts, states, play, roller, {n: p for n, (p, _) in variants.items()}
    )
    # the ceiling: no edit, a real cheese on each target, the same targets, settings and draws
    real = retarget.target_contexts(mazes, targets, "target")
    real_states = retarget.played_states(natural, real, "target")
    path.update(retarget.path_probabilities(policy, real, real_states, roller, {CEILING: (None, None)}))
    reach.update(retarget.reach_rollouts(policy, real, real_states, play, roller, {CEILING: None}))
    frames = []
    for name in [*variants, CEILING]:
        reached, steps = reach[name]
        frames.append(
            pd.DataFrame(
                {
                    "seed": targets["seed"].to_numpy(np.int64),
                    "intervention": name,
                    "target_row": targets["target_row"].to_numpy(np.int64),
                    "target_col": targets["target_col"].to_numpy(np.int64),
                    "path_probability": path[name],
                    "reached_target": reached,
                    "steps": steps,
                    "eligible_squares": targets["eligible_squares"].to_numpy(np.int64),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[list(RETARGETING.names)], aimed


def _largest_per_maze(edits: PreparedEdits, maze_of: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """An aimed edit's count and fractions per maze: the largest over the maze's targets (what the edit
    may change there), zero for a maze with no target."""
    out = (np.zeros(n, np.int64), np.zeros(n), np.zeros(n))
    for values, target in zip((edits.edited_counts(), *edits.edited_fractions()), out, strict=True):
        np.maximum.at(target, maze_of, values)
    return out


def _aim(spec: InterventionSpec, policy: NetworkPolicy) -> int | str:
    """How an edit aimed at the target depends on it: edits that read only the cell of their map that
    holds the target (a clamp: Edit.aim "cell"), all on one layer, through that cell (the map's side);
    anything else (a cheese vector or a cheese-at-target, which render the cheese on the target's square)
    through the square itself."""
    aimed = [e for e in spec.edits if e.aims_at_target]
    if all(e.aim == "cell" for e in aimed) and len({e.layer for e in aimed}) == 1:
        return policy.model.activation_shapes()[aimed[0].layer][-1]
    return "square"
