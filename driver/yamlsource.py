"""YAML that remembers where each value came from, so errors can name file and line."""

from __future__ import annotations

from typing import Any

import yaml


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
    pass


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


def load(text: str) -> Any:
    """Parse YAML into YMap/YList/scalars; raises yaml.MarkedYAMLError with marks."""
    return yaml.load(text, Loader=_LineLoader)
