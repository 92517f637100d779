"""mazeprobe: register, test and score predictions about the procgen cheese-maze policy network."""

from mazeprobe.errors import MazeprobeError

__version__ = "0.1.0"
__all__ = ["MazeprobeError", "__version__"]
