"""One exception family for the whole package; the CLI turns it into exit code 2 (CheckFailed: 1)."""

from __future__ import annotations


class MazeprobeError(Exception):
    """Base class for every error mazeprobe raises on purpose (bad input, bad files)."""


class StateFormatError(MazeprobeError, ValueError):
    """Procgen state bytes that are not a procgen 0.10.7 `maze` state."""


class MazeEditError(MazeprobeError, ValueError):
    """An edit that would make an impossible maze (cheese in a wall, mouse outside the grid...)."""


class UsageError(MazeprobeError, ValueError):
    """A bad argument to a public function or CLI command."""


class WriteFailed(MazeprobeError, OSError):
    """A file that could not be written (no space left, the process's file-size limit): the message names
    it, and nothing half-written is left. An OSError too, for callers that catch those."""


class CheckFailed(MazeprobeError):
    """A check ran and found problems (an edited registered item, a broken hash chain, a resolution that
    does not prove itself): the CLI prints the message and exits 1, not 2, because the input was read
    correctly and what it says is the finding."""
