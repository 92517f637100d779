"""Errors of the statistics layer."""

from __future__ import annotations

from mazeprobe.errors import MazeprobeError


class FitError(MazeprobeError, ValueError):
    """Data that a model cannot be fitted to honestly: too few rows, a constant feature, perfect
    separation, a missing column. The message says what was found and how to fix it."""
