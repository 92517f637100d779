"""What every command module shares: the parser class, argument types, the sub-command helper, output
checks, the progress bar and small formatting helpers."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mazeprobe.devices import DEVICE_HELP, device_problem, resolve_device
from mazeprobe.errors import UsageError
from mazeprobe.settings import int_flag

if TYPE_CHECKING:
    from rich.progress import Progress

Handler = Callable[[argparse.Namespace], int]

# the exit codes of every command (listed in `mazeprobe --help`)
EXIT_OK = 0
EXIT_PROBLEMS = 1  # a check ran and found problems
EXIT_USAGE = 2  # bad input or usage: argparse errors and MazeprobeError
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, what shells report)

EXIT_CODES_HELP = f"""\
exit codes:
  {EXIT_OK:<4} success
  {EXIT_PROBLEMS:<4} a check found a problem (predictions validate and verify; resolve, score and report
       when a registry item is unregistered, edited or unproven, or the lock is damaged)
  {EXIT_USAGE:<4} bad input or usage (one line on stderr says what)
  {EXIT_INTERRUPTED:<4} interrupted (Ctrl-C); the command says what it kept
"""


NOTHING_WRITTEN = "interrupted; nothing was written"


def whole_or_nothing(what: str) -> str:
    """The Ctrl-C message of a command that writes its output atomically at the end."""
    return f"interrupted; no partial file: {what} is written whole at the end or not at all"


class Interrupted(Exception):
    """Ctrl-C, caught by a command that knows better than its fixed message what it kept; main prints the
    message and exits 130."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line, not the usage block
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def add_command(
    subparsers: argparse._SubParsersAction, name: str, func: Handler, interrupted: str = NOTHING_WRITTEN
) -> argparse.ArgumentParser:
    """A sub-command whose help is the handler's docstring (first line: the one-line summary).

    `interrupted`: what main says on Ctrl-C, i.e. what the command keeps; {fields} are filled from the
    parsed arguments (e.g. {out})."""
    doc = func.__doc__ or ""
    p = subparsers.add_parser(
        name,
        help=doc.splitlines()[0],
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # prog: main's error lines name the whole command
    p.set_defaults(func=func, prog=p.prog, interrupted=interrupted)
    return p


# --- argument types -------------------------------------------------------------------------------


_positive_int = int_flag(1)
_non_negative_int = int_flag(0)


def _non_negative_number(text: str) -> float:
    """A finite number >= 0 (float() also reads nan, inf and -1, which no duration means)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _device(text: str) -> str:
    """--device, checked for its form here (mazeprobe.devices); whether there is that GPU is checked by
    device_name."""
    problem = device_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def add_device_flag(p: argparse.ArgumentParser, default: str | None = "auto", what: str = "runs") -> None:
    """--device, the same for every command that runs a network; `default` None: the command says."""
    shown = f"default {default}" if default else "default: the spec's policy.device"
    p.add_argument(
        "--device", type=_device, default=default, help=f"where the network {what}: {DEVICE_HELP} ({shown})"
    )


def device_name(device: str) -> str:
    """What --device means, the same for every command (mazeprobe.devices.resolve_device): auto is cuda
    when there is one, else cpu; cuda:N keeps its index; a GPU that is not there is a UsageError."""
    return resolve_device(device)


# --- checks and output ----------------------------------------------------------------------------


def _check_writable(path: Path) -> None:
    parent = path.resolve().parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"cannot write {path}: permission denied")
    if path.is_dir():
        raise UsageError(f"cannot write {path}: it is a directory")


def plural(n: int, word: str) -> str:
    """'1 problem', '3 problems'."""
    return f"{n} {word}{'s' if n != 1 else ''}"


def progress_bar(
    *fields: str,
    quiet: bool,
    count: str | None = None,
    transient: bool = False,
    eta: bool = False,
    stderr: bool = False,
) -> Progress:
    """A rich progress bar: description, bar, done/total (or the `count` template), one text column per
    template in `fields` (e.g. "{task.fields[rate]} episodes/s"), elapsed time and, with `eta`, the time
    left. Disabled (a no-op) when `quiet`. `stderr`: drawn there, for commands whose stdout is a result
    (JSON) that the bar's last frame must not end up in."""
    # rich here, not at the top: it costs startup time that commands without a bar should not pay
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        "[progress.description]{task.description}",
        BarColumn(),
        TextColumn(count) if count else MofNCompleteColumn(),
        *(TextColumn(f) for f in fields),
        TimeElapsedColumn(),
    ]
    if eta:
        columns.append(TimeRemainingColumn())
    console = Console(stderr=True) if stderr else None
    return Progress(*columns, transient=transient, disable=quiet, console=console)
