"""The `mazeprobe` command: parse arguments, call one library function, report.

Each command group lives in its own module (maze, run, stats, predictions, train) with its handlers and,
next to them, the `register(subparsers)` that builds their parsers. Every error mazeprobe raises on
purpose (MazeprobeError) becomes one line on stderr and exit code 2, except a check that found problems
(CheckFailed: an untrusted registry item, ...), which lists them and exits 1; the exit codes are listed
in `mazeprobe --help` (_common.EXIT_CODES_HELP).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mazeprobe.atomic import full_disk
from mazeprobe.cli import maze, predictions, run, stats, study, train
from mazeprobe.cli._common import (
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    Interrupted,
    Parser,
)
from mazeprobe.errors import CheckFailed, MazeprobeError

COMMAND_GROUPS = (maze, run, stats, predictions, study, train)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="mazeprobe",
        description="Register, test and score predictions about the procgen cheese-maze policy network.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keep the epilog's table
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CheckFailed as exc:  # the input was read; what it says is the finding (one line per item)
        print(f"{args.prog}: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except MazeprobeError as exc:
        print(f"{args.prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as exc:
        print(f"{args.prog}: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`| head`): nothing left to say to it
        sys.stderr.close()
        return EXIT_OK
    except OSError as exc:  # a full disk met outside mazeprobe.atomic (which names its file itself)
        why = full_disk(exc)
        if why is None:
            raise
        print(f"{args.prog}: error: cannot write {exc.filename or 'a file'}: {why}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        # each command says what it kept (add_command's `interrupted`)
        print(f"{args.prog}: {args.interrupted.format_map(vars(args))}", file=sys.stderr)
        return EXIT_INTERRUPTED
