"""Find the line of a field path in a TOML or YAML text, for error messages.

YAML keeps positions (``yaml.compose`` gives every node its mark); ``tomllib``
does not, so TOML positions come from a small scan of table headers and
``key =`` lines. That scan covers the layouts rule files use (``[[groups]]``,
``[[groups.rules]]``, sub-tables, one key per line); inside an inline table or
array it falls back to the line of the enclosing key.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Path = tuple[str | int, ...]
Locator = Callable[[Path], int | None]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')\s*=")


def toml_locator(text: str) -> Locator:
    lines: dict[Path, int] = {}
    counters: dict[Path, int] = {}
    table: Path = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            keys = [k.strip().strip("\"'") for k in header.group(2).split(".")]
            if header.group(1) == "[[":
                # an array of tables: [[groups.rules]] appends to the last group's rules
                parent = _resolve(keys[:-1], counters)
                array = (*parent, keys[-1])
                counters[array] = counters.get(array, -1) + 1
                table = (*array, counters[array])
            else:
                table = (*_resolve(keys[:-1], counters), keys[-1])
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            lines.setdefault((*table, key.group(1).strip("\"'")), number)
    return _nearest(lines)


def _resolve(keys: list[str], counters: dict[Path, int]) -> Path:
    """The path of dotted header keys, with array-of-table segments at their last index."""
    path: Path = ()
    for key in keys:
        path = (*path, key)
        if path in counters:
            path = (*path, counters[path])
    return path


def yaml_locator(text: str) -> Locator:
    import yaml

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lambda path: None
    lines: dict[Path, int] = {}

    def walk(node: yaml.Node | None, path: Path) -> None:
        if node is None:
            return
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    lines[(*path, key.value)] = key.start_mark.line + 1
                    walk(value, (*path, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    walk(root, ())
    return _nearest(lines)


def _nearest(lines: dict[Path, int]) -> Locator:
    def locate(path: Path) -> int | None:
        for end in range(len(path), 0, -1):
            line = lines.get(path[:end])
            if line is not None:
                return line
        return None

    return locate


def format_path(path: Path) -> str:
    """``("groups", 0, "rules", 2, "for")`` -> ``groups[0].rules[2].for``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
