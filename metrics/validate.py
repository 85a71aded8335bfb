"""Check one decoded recording line against its record type, before anything reads it.

The rules come from the dataclasses in ``metrics.records`` (their fields and annotations), so a
field added there is checked without a change here. A line breaks a rule when a required field
is missing, a value has the wrong JSON type, a number is not finite, a structure nests deeper
than ``MAX_DEPTH``, or (in a tick) a histogram is not a readable HDR encoding: every field of a
tick annotated plain ``str`` holds one. Unknown fields are ignored (a newer minor writer).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
import types
import typing
import zlib
from functools import cache
from typing import Any

from metrics.records import RECORD_TYPES, Record, Tick

MAX_DEPTH = 32
# The items of list fields that readers index directly: key -> (annotation, required).
ITEM_SHAPES: dict[tuple[str, str], dict[str, tuple[Any, bool]]] = {
    ("endpoint", "variants"): {"name": (str | None, False), "current": (int | None, False),
                               "desired": (int | None, False),
                               "instance_type": (str | None, False)},
    ("footer", "ensure"): {"name": (str, True), "limit": (float, True),
                           "actual": (float | None, False), "ok": (bool, True),
                           "unit": (str, False)},
}
# HdrHistogram's compressed encoding: a 4-byte cookie and a 4-byte length, then zlib data.
_HDR_COMPRESSED_COOKIE = bytes.fromhex("1c849314")


class InvalidRecord(ValueError):
    """A line that decodes as JSON but is not a record this version can use."""


@cache
def _rules(kind: str) -> tuple[type, dict[str, tuple[Any, bool]]]:
    """The record class and, per field, (annotation, required)."""
    cls = RECORD_TYPES[kind]
    hints = typing.get_type_hints(cls)
    fields = {
        f.name: (hints[f.name], f.default is dataclasses.MISSING
                 and f.default_factory is dataclasses.MISSING)
        for f in dataclasses.fields(cls)
    }
    return cls, fields


@cache
def histogram_fields() -> frozenset[str]:
    """The tick fields that hold HDR encodings: those annotated plain ``str``."""
    _cls, fields = _rules(Tick.TYPE)
    return frozenset(name for name, (annotation, _required) in fields.items()
                     if annotation is str)


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    names = {int: "a whole number", float: "a number", str: "text", bool: "true or false",
             type(None): "null", dict: "an object", list: "a list", Any: "a value"}
    return names.get(origin or annotation, str(annotation))


def _fits(value: Any, annotation: Any, depth: int = 0) -> bool:
    if depth > MAX_DEPTH:
        return False
    if annotation is Any:
        return _plain(value, depth)
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        return any(_fits(value, a, depth) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and math.isfinite(value))
    if annotation is str:
        return isinstance(value, str)
    if origin is dict:
        key_type, value_type = typing.get_args(annotation)
        return isinstance(value, dict) and all(
            _fits(k, key_type, depth + 1) and _fits(v, value_type, depth + 1)
            for k, v in value.items())
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_fits(v, item_type, depth + 1) for v in value)
    return False


def _plain(value: Any, depth: int) -> bool:
    """Any JSON value with finite numbers, nested at most MAX_DEPTH deep."""
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_plain(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return all(_plain(v, depth + 1) for v in value)
    return True


def _mismatch(value: Any, annotation: Any) -> str:
    expected = _type_name(annotation)
    origin = typing.get_origin(annotation) or annotation
    if isinstance(value, dict | list) and isinstance(value, origin if isinstance(origin, type)
                                                     else ()):
        return (f"{expected} holding a value of the wrong type, a number that is not finite, "
                f"or nesting deeper than {MAX_DEPTH}")
    if isinstance(value, float) and not math.isfinite(value):
        return f"expected {expected}, got {value}"
    return f"expected {expected}, got {_JSON_NAMES.get(type(value), type(value).__name__)}"


_JSON_NAMES = {dict: "an object", list: "a list", str: "text", int: "a number",
               float: "a number", bool: "true or false", type(None): "null"}


def _check_items(kind: str, name: str, items: list[Any],
                 shape: dict[str, tuple[Any, bool]]) -> None:
    for index, item in enumerate(items):
        for key, (annotation, required) in shape.items():
            if key not in item:
                if required:
                    raise InvalidRecord(f"{kind}.{name}[{index}]: field {key!r} is missing")
                continue
            if not _fits(item[key], annotation):
                raise InvalidRecord(f"{kind}.{name}[{index}].{key}: "
                                    f"{_mismatch(item[key], annotation)}")


def _histogram_ok(text: str) -> bool:
    if not text:
        return True
    try:
        raw = base64.b64decode(text, validate=True)
        if raw[:4] != _HDR_COMPRESSED_COOKIE:
            return False
        zlib.decompress(raw[8:])  # its adler32 catches a corrupted byte
    except (binascii.Error, ValueError, zlib.error):
        return False
    return True


def record_from_data(data: Any) -> Record:
    """The record a decoded JSON line holds; InvalidRecord naming the field if it holds none."""
    if not isinstance(data, dict):
        raise InvalidRecord("not a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in RECORD_TYPES:
        raise InvalidRecord(f"unknown record type {kind!r}"[:120])
    cls, fields = _rules(kind)
    values = {}
    for name, (annotation, required) in fields.items():
        if name not in data:
            if required:
                raise InvalidRecord(f"{kind}: field {name!r} is missing")
            continue
        value = data[name]
        if not _fits(value, annotation):
            raise InvalidRecord(f"{kind}.{name}: {_mismatch(value, annotation)}")
        shape = ITEM_SHAPES.get((kind, name))
        if shape is not None:
            _check_items(kind, name, value, shape)
        if cls is Tick and annotation is str and not _histogram_ok(value):
            raise InvalidRecord(f"{kind}.{name}: not a readable HDR histogram encoding")
        values[name] = value
    return cls(**values)
