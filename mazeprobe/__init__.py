"""mazeprobe: register, test and score predictions about the procgen cheese-maze policy network."""

from mazeprobe import _compat
from mazeprobe.errors import MazeprobeError

_compat.install()

__version__ = "0.1.0"
__all__ = ["MazeprobeError", "__version__"]
