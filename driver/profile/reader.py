"""Reading YAML values with their line numbers: the checks, and field tables that drive them.

A section whose keys are plain options is a table of ``Field`` rows (YAML name, attribute,
kind, bounds); ``read_fields`` checks the keys against it (an unknown key names the closest
known one) and reads each value by its kind. A new option is one row.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driver.profile.model import Problem, Template
from driver.profile.yamlsource import YList, YMap

TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_ENV = re.compile(r"^\$env\.([A-Za-z_][A-Za-z0-9_]*)$")
_PROCESS_ENV = re.compile(r"^\$processEnvironment\.([A-Za-z_][A-Za-z0-9_]*)$")
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?!s))?\s*"
                       r"(?:(\d+(?:\.\d+)?)\s*s)?\s*(?:(\d+(?:\.\d+)?)\s*ms)?\s*$")


class Context:
    """One profile being read: where it is, the environment, and the problems found so far."""

    def __init__(self, file: str, base_dir: Path, environ: Mapping[str, str]) -> None:
        self.file = file
        self.base_dir = base_dir
        self.environ = environ
        self.problems: list[Problem] = []
        self.secrets: set[str] = set()

    def error(self, line: int | None, where: str, message: str) -> None:
        self.problems.append(Problem(self.file, line, where, message))

    def fields(
        self, mapping: Any, where: str, line: int, allowed: Iterable[str]
    ) -> dict[str, tuple[Any, int]]:
        """The keys of a mapping matched case-insensitively against ``allowed``."""
        if not isinstance(mapping, dict):
            self.error(line, where, f"expected a mapping, got {kind_of(mapping)}")
            return {}
        canonical = {name.lower(): name for name in allowed}
        found: dict[str, tuple[Any, int]] = {}
        key_lines = getattr(mapping, "key_lines", {})
        for key, value in mapping.items():
            key_line = key_lines.get(key, line)
            name = canonical.get(str(key).lower())
            label = f"{where}.{key}" if where else str(key)
            if name is None:
                hint = difflib.get_close_matches(str(key).lower(), list(canonical), n=1)
                known = f"; did you mean {canonical[hint[0]]!r}?" if hint else (
                    f"; known keys: {', '.join(sorted(canonical.values()))}")
                self.error(key_line, label, f"unknown key{known}")
                continue
            if name in found:
                self.error(key_line, label, f"given twice (keys match case-insensitively, "
                                            f"line {found[name][1]} has it too)")
                continue
            found[name] = (value, key_line)
        return found

    def number(self, value: Any, line: int, where: str, minimum: float = 0.0,
               integer: bool = False, allow_equal: bool = True) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(line, where, f"expected a number, got {kind_of(value)}")
            return None
        if not math.isfinite(value):
            self.error(line, where, "must be a finite number")
            return None
        if integer and value != int(value):
            self.error(line, where, f"expected a whole number, got {value}")
            return None
        if value < minimum or (not allow_equal and value == minimum):
            relation = ">=" if allow_equal else ">"
            self.error(line, where, f"must be {relation} {minimum:g}, got {value}")
            return None
        return int(value) if integer else float(value)

    def duration(self, value: Any, line: int, where: str,
                 allow_zero: bool = False) -> float | None:
        if isinstance(value, bool):
            self.error(line, where, f"expected seconds or a string like 90s, 10m, 2h, got {value}")
            return None
        if isinstance(value, int | float):
            return self.number(value, line, where, 0.0, allow_equal=allow_zero)
        if isinstance(value, str):
            match = _DURATION.match(value)
            if match and any(match.groups()):
                h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
                seconds = h * 3600 + m * 60 + s + ms / 1000
                if seconds > 0 or allow_zero:
                    return seconds
                self.error(line, where, f"must be > 0, got {value!r}")
                return None
        self.error(line, where, f"expected seconds or a string like 90s, 10m, 2h, got {value!r}")
        return None

    def string(self, value: Any, line: int, where: str) -> str | None:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        self.error(line, where, f"expected a string, got {kind_of(value)}")
        return None

    def boolean(self, value: Any, line: int, where: str) -> bool | None:
        if isinstance(value, bool):
            return value
        self.error(line, where, f"expected true or false, got {kind_of(value)}")
        return None

    def choice(self, value: Any, line: int, where: str, choices: tuple[str, ...]) -> str | None:
        if isinstance(value, str) and value.lower() in choices:
            return value.lower()
        self.error(line, where, f"expected one of {', '.join(choices)}, got {value!r}")
        return None

    def template(self, text: str, line: int, where: str, fields: list[str],
                 allow_fields: bool = True) -> Template:
        """Resolve ``{{ $env.NAME }}`` now; keep ``{{ field }}`` holes for payload rows."""
        parts: list[str | int] = []
        position = 0
        for match in TEMPLATE.finditer(text):
            parts.append(text[position:match.start()])
            position = match.end()
            expression = match.group(1)
            env = _ENV.match(expression) or _PROCESS_ENV.match(expression)
            if env:
                name = env.group(1)
                if name not in self.environ:
                    self.error(line, where, f"environment variable {name} is not set "
                                            f"(referenced as {match.group(0)})")
                    continue
                value = self.environ[name]
                self.secrets.add(value)
                parts.append(value)
            elif allow_fields and expression in fields:
                parts.append(fields.index(expression))
            elif allow_fields and re.fullmatch(r"[A-Za-z_][\w-]*", expression):
                known = f" (payload fields: {', '.join(fields)})" if fields else (
                    " (no payload fields are defined)")
                self.error(line, where, f"unknown variable {{{{ {expression} }}}}{known}")
            else:
                self.error(line, where, f"unsupported template {match.group(0)}; loadwatch "
                                        "supports {{ $env.NAME }}"
                                        + (" and payload fields" if allow_fields else ""))
        parts.append(text[position:])
        merged: list[str | int] = []
        for part in parts:
            if isinstance(part, str) and merged and isinstance(merged[-1], str):
                merged[-1] += part
            elif part != "":
                merged.append(part)
        return Template(text, merged)


def kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def line_of(container: Any, key: Any, default: int) -> int:
    if isinstance(container, YMap):
        return container.key_lines.get(key, default)
    if isinstance(container, YList) and isinstance(key, int) and key < len(container.item_lines):
        return container.item_lines[key]
    return default


# --- field tables -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """One option of a section: how it is written, where it goes, what it may be."""

    key: str  # as written in YAML (matched case-insensitively)
    attr: str  # the attribute of the section's options it sets
    kind: str  # a key of KINDS
    minimum: float = 0.0  # for numbers
    above: bool = False  # the number must be > minimum, not >=
    choices: tuple[str, ...] = ()  # for kind "choice"


def _cloudwatch_period(ctx: Context, field: Field, value: Any, line: int,
                       where: str) -> int | None:
    period = ctx.duration(value, line, where)
    if period is None:
        return None
    if period < 60 and period not in (1, 5, 10, 20, 30):
        ctx.error(line, where, "CloudWatch periods are 1, 5, 10, 20, 30 s or a multiple of 60 s")
        return None
    if period >= 60 and period % 60:
        ctx.error(line, where, "CloudWatch periods of a minute or more are multiples of 60 s")
        return None
    return int(period)


Reader = Callable[[Context, Field, Any, int, str], Any]
KINDS: dict[str, Reader] = {
    "int": lambda ctx, f, v, line, where: ctx.number(v, line, where, f.minimum, integer=True,
                                                     allow_equal=not f.above),
    "number": lambda ctx, f, v, line, where: ctx.number(v, line, where, f.minimum,
                                                        allow_equal=not f.above),
    "duration": lambda ctx, f, v, line, where: ctx.duration(v, line, where),
    "duration_or_zero": lambda ctx, f, v, line, where: ctx.duration(v, line, where,
                                                                    allow_zero=True),
    "string": lambda ctx, f, v, line, where: ctx.string(v, line, where),
    # a string that may name environment variables ({{ $env.NAME }}), resolved now
    "env_string": lambda ctx, f, v, line, where: None if (text := ctx.string(v, line, where))
    is None else ctx.template(text, line, where, [], allow_fields=False).render(None),
    "boolean": lambda ctx, f, v, line, where: ctx.boolean(v, line, where),
    "choice": lambda ctx, f, v, line, where: ctx.choice(v, line, where, f.choices),
    "cloudwatch_period": _cloudwatch_period,
    "any": lambda ctx, f, v, line, where: v,  # the section checks it itself
}


def read_fields(ctx: Context, value: Any, where: str, line: int, table: Iterable[Field],
                ) -> tuple[dict[str, Any], dict[str, tuple[Any, int]]]:
    """The values a table's keys set (attribute -> value; invalid ones left out) and the keys.

    Rows are read in table order; two rows may set one attribute (aliases), the later wins.
    """
    table = tuple(table)
    keys = ctx.fields(value, where, line, [f.key for f in table])
    values: dict[str, Any] = {}
    for row in table:
        if row.key in keys:
            raw, key_line = keys[row.key]
            parsed = KINDS[row.kind](ctx, row, raw, key_line, f"{where}.{row.key}")
            if parsed is not None:
                values[row.attr] = parsed
    return values, keys
