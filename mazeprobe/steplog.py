"""Time the steps of a long job (`make results`): run one command and record how long it took.

    python -m mazeprobe.steplog data/results/steps.json behavioral-10k -- mazeprobe run ... --resume

The log is JSON: the machine, and per step its command and every attempt (start, end, seconds, exit
status). A step's `seconds` is the time its attempts took up to its first success: a job resumed after
an interruption adds the time the interrupted attempt had spent, and a step run again after it had
succeeded (a finished run that `--resume` only checks) does not replace the time it first took. The file
is rewritten whole after each step, so an interruption never leaves half a log. The command's exit
status is passed on, so make stops at the first failing step.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mazeprobe.atomic import write_bytes
from mazeprobe.provenance import utc_stamp


def machine() -> str:
    """The machine in one line: processor, cores, memory, system."""
    memory = ""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages * size / 2**30:.0f} GiB memory"
    except (ValueError, OSError, AttributeError):
        pass
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} CPU cores{memory}, {platform.system()} {platform.release()}"


def read_log(path: str | os.PathLike) -> dict:
    """The step log at `path` (an empty one when there is none)."""
    p = Path(path)
    if not p.is_file():
        return {"machine": machine(), "steps": []}
    doc = json.loads(p.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("steps"), list):
        raise ValueError(f"{p}: not a step log (expected {{machine, steps: [...]}})")
    return doc


def _record(log: str | os.PathLike, name: str, command: list[str], attempt: dict) -> None:
    """Put `attempt` under step `name` (replacing the open attempt that began at the same time)."""
    doc = read_log(log)
    doc["machine"] = machine()
    earlier = next((s for s in doc["steps"] if s["step"] == name), {"attempts": []})
    attempts = [a for a in earlier["attempts"] if a["started_at"] != attempt["started_at"]] + [attempt]
    until = next((i for i, a in enumerate(attempts) if a["exit_status"] == 0), len(attempts) - 1)
    counted = attempts[: until + 1]
    record = {
        "step": name,
        "command": " ".join(command),
        "seconds": round(sum(a["seconds"] or 0 for a in counted), 1),
        "succeeded": attempts[until]["exit_status"] == 0,
        "attempts": attempts,
    }
    # an attempt that never ended (the machine or session stopped under it) has no seconds: say so
    if any(a["ended_at"] is None for a in counted[:-1]):
        record["seconds_is_lower_bound"] = True
    doc["steps"] = [s for s in doc["steps"] if s["step"] != name] + [record]
    write_bytes(Path(log), (json.dumps(doc, indent=1) + "\n").encode())


def run_step(log: str | os.PathLike, name: str, command: list[str]) -> int:
    """Run `command`, record the attempt under step `name` in `log`, return its exit status.

    The attempt is written before the command starts (no end, no exit status), so one killed with the
    machine still shows in the log; it is completed when the command ends."""
    started, t0 = utc_stamp(), time.monotonic()
    _record(
        log, name, command, {"started_at": started, "ended_at": None, "seconds": None, "exit_status": None}
    )
    child = subprocess.Popen(command)
    try:
        rc = child.wait()
    except KeyboardInterrupt:  # the child got the same Ctrl-C: let it stop, and record the attempt
        rc = child.wait()
        rc = rc if rc else 130
    attempt = {"started_at": started, "ended_at": utc_stamp(), "seconds": round(time.monotonic() - t0, 1),
               "exit_status": rc}  # fmt: skip
    _record(log, name, command, attempt)
    return rc


@contextmanager
def timed_step(log: str | os.PathLike, name: str, command: str) -> Iterator[None]:
    """Record the work done inside the block as an attempt of step `name` in `log`, as run_step records a
    command (`command`: what a person would type to do the same); an exception is a failed attempt."""
    started, t0 = utc_stamp(), time.monotonic()
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    _record(
        log, name, [command], {"started_at": started, "ended_at": None, "seconds": None, "exit_status": None}
    )
    status = 1
    try:
        yield
        status = 0
    finally:
        attempt = {"started_at": started, "ended_at": utc_stamp(), "seconds": round(time.monotonic() - t0, 1),
                   "exit_status": status}  # fmt: skip
        _record(log, name, [command], attempt)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 4 or args[2] != "--":
        print("usage: python -m mazeprobe.steplog LOG.json STEP -- COMMAND ...", file=sys.stderr)
        return 2
    Path(args[0]).parent.mkdir(parents=True, exist_ok=True)
    return run_step(args[0], args[1], args[3:])


if __name__ == "__main__":
    sys.exit(main())
