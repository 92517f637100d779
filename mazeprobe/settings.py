"""Settings declared once: a dataclass field carries its type, default, bounds, help, YAML key and CLI flag.

    @dataclass(frozen=True)
    class RankingSpec:
        n: int = setting(1000, "mazes the channels are ranked on (default {default})", low=4, high=100_000)
        seed: int = setting(0, "their sampling seed", low=0)

`read_settings(checker, RankingSpec, raw, ("channel_ranking",))` checks a YAML section against those fields
(unknown keys, missing required keys, each value's type, bounds and choices; every problem is reported to
the yamlio.Checker as `file:line:col: key.path: ...`, so one error lists them all) and returns the checked
values by field name: `RankingSpec(**values)`. `add_flags(parser, RankingSpec, ["n", "seed"])` makes the
command-line flags of the same fields (`--n`, `--seed`), with the same bounds and help, and
`flag_values(args, RankingSpec)` reads them back. `keys_help(RankingSpec)` is the allowed-key table the
messages list. A field without `setting(...)` is not a setting (it is left to the class's own parser).

Settings held in a dict rather than on dataclass fields (a model kind's, one dict per kind) are
`KeyedSetting`s: the same record, with the default beside it.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from typing import Any

from mazeprobe.errors import MazeprobeError
from mazeprobe.validation import name_problem, within
from mazeprobe.yamlio import Checker, KeyPath, describe_value

SETTING = "mazeprobe.setting"
"""The key of a field's metadata that holds its Setting."""

Check = Callable[[Checker, Any, KeyPath, Any], Any]
"""A check of its own, called with the Checker, the value, its key path and the `context` read_settings
was given (e.g. the folder relative paths are read from): it reports what is wrong to the Checker and
returns the value to keep (None after a problem)."""


@dataclass(frozen=True)
class Setting:
    """How one setting is checked, shown and given. Built by `setting(...)`; read with `settings_of`."""

    help: str
    """What the value is, for people (listed with the allowed keys, and as the flag's help). `{default}`
    stands for the field's default, so that the default is written once, on the field."""
    type: type | None = None
    """int, float, bool or str; None for a setting checked by `check` alone."""
    low: float | None = None
    high: float | None = None
    """Bounds: an int lies in [low, high]; a float in (low, high), or [low, ...] / [..., high] with
    `closed`."""
    closed: str = ""
    """For a float: which bounds are allowed values themselves: "", "low", "high" or "both"."""
    bounds: str = ""
    """For a float: how its bounds read in a message ("a positive number", "in (0, 1]"); by default they
    are written from low, high and closed."""
    choices: tuple[str, ...] = ()
    """For a str: the values allowed (values known only on use, such as layer names, want a `check`)."""
    name: bool = False
    """For a str: a name (mazeprobe.validation.NAME_PATTERN): it becomes a file or folder name."""
    nullable: bool = False
    """Whether YAML `null` is a value (the field's None)."""
    required: bool = False
    """Whether a YAML section must give it (a field without a default is required too)."""
    missing: str = ""
    """The message when a required setting is left out, in place of Checker.mapping's
    "missing required key 'KEY' (HELP)"."""
    check: Check | None = None
    """A check of its own, in place of the type's (it returns the value kept)."""
    key: str = ""
    """Its YAML key, when it is not the field's name."""
    flag: str = ""
    """Its command-line flag, when it is not --FIELD-NAME."""
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None
    """How a flag's text becomes the value, for a type argparse cannot convert (its UsageError is the
    message)."""

    def bounds_text(self) -> str:
        """How a float's bounds read: "> 0", ">= 0 and <= 1"."""
        if self.bounds:
            return self.bounds
        parts = []
        if self.low is not None:
            parts.append(f"{'>=' if self.closed in ('low', 'both') else '>'} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<=' if self.closed in ('high', 'both') else '<'} {self.high:g}")
        return " and ".join(parts) or "a finite number"

    def number_inside(self, value: float) -> bool:
        """Whether a finite float lies within the bounds (for a float setting)."""
        closed_low, closed_high = self.closed in ("low", "both"), self.closed in ("high", "both")
        return math.isfinite(value) and within(value, self.low, self.high, closed_low, closed_high)

    def validate(self, c: Checker, value: Any, kp: KeyPath, context: Any = None) -> Any:
        """The value to keep, or None after reporting what is wrong with it to `c`."""
        if value is None and self.nullable:
            return None
        if self.check is not None:
            return self.check(c, value, kp, context)
        if self.type is bool:
            n = len(c.problems)
            kept = c.boolean(value, kp)
            return kept if len(c.problems) == n else None
        if self.type is int:
            return c.integer(value, kp, _int_or_none(self.low), _int_or_none(self.high))
        if self.type is float:
            return c.number(
                value,
                kp,
                self.low,
                self.high,
                self.bounds_text(),
                closed_low=self.closed in ("low", "both"),
                closed_high=self.closed in ("high", "both"),
            )
        if self.name:
            problem = name_problem(value)
            if problem:
                c.fail(kp, problem)
                return None
            return value
        if self.choices:
            return c.choice(value, kp, tuple(self.choices))
        return value


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True, init=False)
class KeyedSetting(Setting):
    """A setting held in a dict (a model kind's settings: one dict per kind) rather than on a dataclass
    field, so it carries its default itself: `KeyedSetting(int, 3, "digits kept", low=0)`."""

    default: Any = None

    def __init__(self, type: type, default: Any, help: str, **how: Any) -> None:
        super().__init__(help=help, type=type, **how)
        object.__setattr__(self, "default", default)

    def held(self, value: Any) -> Any:
        """A checked value (or the default) as it is held: a float setting given as 1 is 1.0."""
        return value if self.choices or self.type is None else self.type(value)


def text(c: Checker, value: Any, kp: KeyPath, context: Any = None) -> str | None:
    """A check for free text (a description): any string."""
    if not isinstance(value, str):
        c.fail(kp, f"must be text; got {describe_value(value)}")
        return None
    return value


def setting(
    default: Any = MISSING,
    help: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    **how: Any,
) -> Any:
    """A dataclass field that is a setting (see Setting for `how`): `n: int = setting(1000, "...", low=4)`.
    The field's type is taken from the default when `type` is not given (an int default: an int setting)."""
    if "type" not in how and default is not MISSING and default is not None and "check" not in how:
        how["type"] = float if isinstance(default, float) else type(default)
    record = Setting(help=help, **how)
    if factory is not None:
        return field(default_factory=factory, metadata={SETTING: record})
    return field(default=default, metadata={SETTING: record})


def settings_of(cls: type) -> dict[str, tuple[Field, Setting]]:
    """The fields of `cls` that are settings, by field name, in their order."""
    if not is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    return {f.name: (f, f.metadata[SETTING]) for f in fields(cls) if SETTING in f.metadata}


def default_of(f: Field) -> Any:
    """A field's default (MISSING when it has none)."""
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def shown(value: Any) -> str:
    """A value as help text writes it: 1.0 as 1, None as null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def help_of(f: Field, s: Setting) -> str:
    """The setting's help with its default written in."""
    return s.help.replace("{default}", shown(default_of(f)))


def yaml_key(f: Field, s: Setting) -> str:
    return s.key or f.name


def keys_help(cls: type, extra: Mapping[str, str] | None = None, order: Iterable[str] = ()) -> dict[str, str]:
    """YAML key -> help, for every setting of `cls` after the `extra` keys the section also allows (such
    as `kind`): the table Checker.mapping lists in its messages. `order`: keys listed first, in this
    order (for a section whose extra keys sit between its settings); the rest follow as above."""
    table = dict(extra or {})
    for f, s in settings_of(cls).values():
        table[yaml_key(f, s)] = help_of(f, s)
    first = {key: table[key] for key in order}
    return {**first, **{key: value for key, value in table.items() if key not in first}}


def is_required(f: Field, s: Setting) -> bool:
    return s.required or default_of(f) is MISSING


def read_settings(
    c: Checker,
    cls: type,
    raw: Any,
    kp: KeyPath,
    *,
    extra: Mapping[str, str] | None = None,
    none_ok: bool = False,
    check_missing: bool = True,
    context: Any = None,
    order: Iterable[str] = (),
    require: Iterable[str] = (),
) -> dict[str, Any]:
    """The settings of `cls` a YAML section gives, checked, by field name (a value with a problem is left
    out, after the problem is reported to `c`). Unknown keys and (when `check_missing`) missing required
    ones are reported too (with Checker.mapping's message, after the unknown keys; a setting with a
    `missing` message of its own is reported in listing order, among the values' problems). `extra`:
    further keys the section may hold, read by the caller. `none_ok`: an empty section (`key:` with nothing
    after it) counts as an empty mapping. `context`: passed to the settings' own checks. `order`: the keys
    listed (and checked) first (see keys_help). `require`: keys of `extra` that must be given too (reported
    missing with the settings, in listing order)."""
    declared = settings_of(cls)
    required = [(f, s) for f, s in declared.values() if is_required(f, s)] if check_missing else []
    allowed = keys_help(cls, extra, order)
    must = {yaml_key(f, s) for f, s in required if not s.missing} | (set(require) if check_missing else set())
    plain = tuple(key for key in allowed if key in must)
    section = c.mapping(raw, kp, allowed, required=plain, none_ok=none_ok)
    custom = {yaml_key(f, s) for f, s in required if s.missing} if isinstance(raw, dict) else set()
    by_key = {yaml_key(f, s): (name, f, s) for name, (f, s) in declared.items()}
    out: dict[str, Any] = {}
    for key in allowed:  # checked in the order they are listed
        if key not in by_key:
            continue
        name, f, s = by_key[key]
        if key not in section:
            if key in custom:  # among the values' problems, in listing order
                c.fail(kp, s.missing)
            continue
        n = len(c.problems)
        value = s.validate(c, section[key], (*kp, key), context)
        if len(c.problems) == n:
            out[name] = value
    return out


# --- command-line flags ------------------------------------------------------------------------------


def flag_of(f: Field, s: Setting) -> str:
    return s.flag or "--" + f.name.replace("_", "-")


def int_flag(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An argparse type for an integer in [low, high], refusing others with "expected a positive integer,
    got 0" (the CLI's one wording, for generated flags and hand-written ones alike)."""
    if low == 1 and high is None:
        what = "a positive integer"
    elif low == 0 and high is None:
        what = "a non-negative integer"
    elif low is not None and high is not None:
        what = f"an integer between {low} and {high}"
    elif low is not None:
        what = f"an integer >= {low}"
    else:
        what = "an integer" if high is None else f"an integer <= {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def _float_parser(s: Setting) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {s.bounds_text()}, got {text!r}") from None
        if not s.number_inside(value):
            raise argparse.ArgumentTypeError(f"expected {s.bounds_text()}, got {text}")
        return value

    parse.__name__ = "float"
    return parse


def _custom_parser(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except MazeprobeError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def add_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    names: Iterable[str] | None = None,
    *,
    help: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    required: Iterable[str] = (),
) -> None:
    """A flag for each setting of `cls` named (all of them by default), typed and bounded as the setting
    is. `help`: a flag's own help, where the command says more than the YAML key (`{default}` works
    there too); `defaults`: a flag default other than the field's; `required`: flags that must be given.
    A bool setting whose default is false is a switch (`--require-decision-square`)."""
    declared = settings_of(cls)
    must = set(required)
    for name in declared if names is None else names:
        f, s = declared[name]
        default = (defaults or {}).get(name, default_of(f))
        text = (help or {}).get(name, s.help).replace("{default}", shown(default))
        kwargs: dict[str, Any] = {"dest": name, "help": text}
        if name in must:
            kwargs["required"] = True
        elif default is not MISSING:
            kwargs["default"] = default
        if s.metavar:
            kwargs["metavar"] = s.metavar
        if s.type is bool:
            kwargs.pop("metavar", None)
            kwargs["action"] = "store_true" if not default else argparse.BooleanOptionalAction
        elif s.parse is not None:
            kwargs["type"] = _custom_parser(s.parse)
        elif s.type is int:
            kwargs["type"] = int_flag(_int_or_none(s.low), _int_or_none(s.high))
        elif s.type is float:
            kwargs["type"] = _float_parser(s)
        elif s.choices:
            kwargs["choices"] = tuple(s.choices)
        parser.add_argument(flag_of(f, s), **kwargs)


def flag_values(args: argparse.Namespace, cls: type, names: Iterable[str] | None = None) -> dict[str, Any]:
    """The values of `cls`'s flags on the parsed command line (those add_flags made), by field name."""
    declared = settings_of(cls)
    return {
        name: getattr(args, name) for name in (declared if names is None else names) if hasattr(args, name)
    }
