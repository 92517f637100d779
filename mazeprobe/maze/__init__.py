"""The maze layer: procgen state (codec, MazeState, live envs), geometry, features, sampling."""

from mazeprobe.maze.display import MazeImage, MazeTableSummary, maze_image, summarize_mazes
from mazeprobe.maze.features import REGISTRY, compute_features, feature
from mazeprobe.maze.geometry import (
    decision_square,
    distance_map,
    maze_geometry,
    shortest_path,
    top_right_region_mask,
    top_right_square,
)
from mazeprobe.maze.placement import parse_placement, place_cheese
from mazeprobe.maze.sampling import SampleSpec, read_mazes, sample_mazes, write_mazes
from mazeprobe.maze.state import MazeState

__all__ = [
    "REGISTRY",
    "MazeImage",
    "MazeState",
    "MazeTableSummary",
    "SampleSpec",
    "compute_features",
    "decision_square",
    "distance_map",
    "feature",
    "maze_geometry",
    "maze_image",
    "parse_placement",
    "place_cheese",
    "read_mazes",
    "sample_mazes",
    "shortest_path",
    "summarize_mazes",
    "top_right_region_mask",
    "top_right_square",
    "write_mazes",
]
