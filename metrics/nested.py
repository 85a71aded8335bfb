"""Depth-first search of JSON-shaped data (dicts and lists) for the first thing that matches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def first_match(data: Any, pick: Callable[[dict[str, Any]], T | None]) -> T | None:
    """The first non-None ``pick(d)`` over every dict ``d`` in ``data``, parents first."""
    if isinstance(data, dict):
        found = pick(data)
        if found is not None:
            return found
        children = list(data.values())
    elif isinstance(data, list):
        children = data
    else:
        return None
    for child in children:
        found = first_match(child, pick)
        if found is not None:
            return found
    return None
