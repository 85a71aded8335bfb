"""YAML that remembers where each value came from, so errors can name file and line.

Bounded: a profile is hand-written text, so more than ``MAX_BYTES`` is refused before it is
parsed, and a document whose aliases would expand to more than ``MAX_VALUES`` values (a
"billion laughs" bomb, which ``json:`` bodies would otherwise expand in full) or nest deeper
than ``MAX_DEPTH`` is refused before it is constructed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1024 * 1024
MAX_VALUES = 100_000
MAX_DEPTH = 100


class YMap(dict):
    """A mapping with the line of the mapping itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]


class YList(list):
    """A sequence with the line of the sequence and of each item (1-based)."""

    line: int = 0
    item_lines: list[int]


class DuplicateKey(yaml.MarkedYAMLError):
    pass


class _LineLoader(yaml.SafeLoader):
    # Depth is refused while scanning: PyYAML's scanner slows down with each open level
    # (quadratically), so a file of brackets must not get to the composer.
    def fetch_flow_collection_start(self, token_class: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise _refuse(f"nested more than {MAX_DEPTH} levels deep", self.get_mark())
        super().fetch_flow_collection_start(token_class)

    def add_indent(self, column: int) -> bool:
        if len(self.indents) >= MAX_DEPTH:
            raise _refuse(f"nested more than {MAX_DEPTH} levels deep", self.get_mark())
        return super().add_indent(column)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> YMap:
    loader.flatten_mapping(node)
    mapping = YMap()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise DuplicateKey(
                problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> YList:
    sequence = YList(loader.construct_object(child, deep=True) for child in node.value)
    sequence.line = node.start_mark.line + 1
    sequence.item_lines = [child.start_mark.line + 1 for child in node.value]
    return sequence


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


class TooLarge(yaml.MarkedYAMLError):
    pass


def _refuse(problem: str, mark: yaml.Mark | None = None) -> TooLarge:
    return TooLarge(problem=problem, problem_mark=mark or yaml.Mark("<profile>", 0, 0, 0, None,
                                                                    None))


def read_text(path: Path) -> str:
    """The file's text, reading at most MAX_BYTES + 1 bytes (``load`` refuses a longer one)."""
    with open(path, "rb") as handle:
        raw = handle.read(MAX_BYTES + 1)
    # Cut mid-character only when too long, and then load refuses it for its size anyway.
    return raw.decode("utf-8", errors="ignore" if len(raw) > MAX_BYTES else "strict")


def _check_expansion(root: yaml.Node) -> None:
    """Count the values the document holds with every alias expanded, without expanding."""
    expanded: dict[int, int] = {}
    # Post-order walk with an explicit stack: no recursion, each node counted once.
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        if id(node) in expanded:
            continue
        if depth > MAX_DEPTH:
            raise _refuse(f"nested more than {MAX_DEPTH} levels deep", node.start_mark)
        children = _children(node)
        if not children_done:
            stack.append((node, depth, True))
            stack.extend((child, depth + 1, False) for child in children
                         if id(child) not in expanded)
            continue
        total = 1 + sum(expanded.get(id(child), 0) for child in children)
        if total > MAX_VALUES:
            raise _refuse(f"expands to more than {MAX_VALUES:,} values (aliases repeat "
                          "what they name: a profile does not need this many)", node.start_mark)
        expanded[id(node)] = total


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load(text: str) -> Any:
    """Parse YAML into YMap/YList/scalars; raises yaml.MarkedYAMLError with marks."""
    if len(text.encode("utf-8", errors="ignore")) > MAX_BYTES:
        raise _refuse(f"the file is larger than {MAX_BYTES // 1024} KiB; a profile is a "
                      "short text (put request data in a payload CSV)")
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    except RecursionError:
        raise _refuse(f"nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()
