"""YAML with line numbers, for strict validation of policy and suppression files.

Why not ``yaml.safe_load``: a strict loader must say *where* an unknown key or a bad value is, and
``safe_load`` throws the marks away. We compose nodes with the C parser (``CSafeLoader`` when
libyaml is present, which is what makes large policy directories cheap to read) and convert them
ourselves into dicts and lists that remember the line of every key and item.

Timestamps stay strings (the raw text): a policy comparing ``eq: 2024-01-01`` against an API
string must not silently compare a ``date`` object with a ``str``.
"""

from __future__ import annotations

from typing import Any

import yaml

from yamori.policy.interface import PolicyError

__all__ = ["MarkedList", "MarkedMap", "load_yaml"]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG_NULL = "tag:yaml.org,2002:null"
_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_FLOAT = "tag:yaml.org,2002:float"
_TAG_STR = "tag:yaml.org,2002:str"
_TAG_TIMESTAMP = "tag:yaml.org,2002:timestamp"

# Aliases can make a tiny file expand exponentially ("billion laughs"); policies never need more.
_MAX_NODES = 200_000
_MAX_DEPTH = 64


class MarkedMap(dict[str, Any]):
    """A mapping that remembers its own line and the line of each key (1-based)."""

    __slots__ = ("file", "key_lines", "line")

    def __init__(self, file: str, line: int) -> None:
        super().__init__()
        self.file = file
        self.line = line
        self.key_lines: dict[str, int] = {}

    def where(self, key: str | None = None) -> tuple[str, int]:
        """``(file, line)`` of ``key`` (or of the mapping itself)."""
        if key is not None and key in self.key_lines:
            return self.file, self.key_lines[key]
        return self.file, self.line

    def error(self, message: str, key: str | None = None) -> PolicyError:
        file, line = self.where(key)
        return PolicyError(file, line, message)


class MarkedList(list[Any]):
    """A sequence that remembers its own line and the line of each item (1-based)."""

    __slots__ = ("file", "item_lines", "line")

    def __init__(self, file: str, line: int) -> None:
        super().__init__()
        self.file = file
        self.line = line
        self.item_lines: list[int] = []

    def error(self, message: str, index: int | None = None) -> PolicyError:
        line = self.item_lines[index] if index is not None and index < len(self.item_lines) else self.line
        return PolicyError(self.file, line, message)


class _Converter:
    def __init__(self, loader: Any, file: str) -> None:
        self.loader = loader
        self.file = file
        self.count = 0

    def convert(self, node: yaml.Node, depth: int = 0) -> Any:
        self.count += 1
        line = node.start_mark.line + 1
        if self.count > _MAX_NODES or depth > _MAX_DEPTH:
            raise PolicyError(self.file, line, "document too large or too deeply nested (alias expansion?)")
        if isinstance(node, yaml.MappingNode):
            out = MarkedMap(self.file, line)
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise PolicyError(self.file, key_line, "YAML merge keys ('<<') are not supported")
                if not isinstance(key_node, yaml.ScalarNode):
                    raise PolicyError(self.file, key_line, "mapping keys must be plain strings")
                key = key_node.value
                if key in out:
                    raise PolicyError(self.file, key_line, f"duplicate key {key!r}")
                out[key] = self.convert(value_node, depth + 1)
                out.key_lines[key] = key_line
            return out
        if isinstance(node, yaml.SequenceNode):
            seq = MarkedList(self.file, line)
            for item in node.value:
                seq.append(self.convert(item, depth + 1))
                seq.item_lines.append(item.start_mark.line + 1)
            return seq
        assert isinstance(node, yaml.ScalarNode)
        tag = node.tag
        if tag in (_TAG_STR, _TAG_TIMESTAMP):
            return node.value
        if tag in (_TAG_NULL, _TAG_BOOL, _TAG_INT, _TAG_FLOAT):
            return self.loader.construct_object(node)
        raise PolicyError(self.file, line, f"unsupported YAML tag {tag!r}")


def load_yaml(text: str, file: str) -> Any:
    """Parse one YAML document into MarkedMap/MarkedList/scalars (``None`` for an empty file)."""
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 0
            raise PolicyError(file, line, f"malformed YAML: {exc.problem or exc}") from None
        except yaml.YAMLError as exc:
            raise PolicyError(file, 0, f"malformed YAML: {exc}") from None
        if node is None:
            return None
        return _Converter(loader, file).convert(node)
    finally:
        loader.dispose()
