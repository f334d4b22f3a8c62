"""Reading a configuration file's YAML safely: bounded in time and memory, whatever the bytes.

A configuration is a few hundred lines, nested a few levels. A file that is not UTF-8, nested
far deeper than any configuration (PyYAML's composer recurses, and a RecursionError takes
seconds to come), or whose aliases expand to millions of values (a "billion laughs" file loads
in milliseconds as shared objects, then hangs whoever walks it) is refused with one line saying
which, before it is built. So is a key given twice in one mapping, which YAML would otherwise
resolve silently by keeping the last.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 100_000

_OPEN = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
         yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
_CLOSE = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


class YamlRefused(ValueError):
    """The file is not one YAML configuration can be read from; the message says why."""


def parse_yaml(data: bytes) -> Any:
    """The YAML document in ``data`` as plain Python values; :class:`YamlRefused` or
    ``yaml.YAMLError`` otherwise."""
    if len(data) > MAX_BYTES:
        raise YamlRefused(f"{len(data)} bytes: more than a configuration ever needs "
                          f"({MAX_BYTES // 1024} KiB)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlRefused(f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset "
                          f"{exc.start} (save the file as UTF-8)") from None
    _check_depth(text)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, {})
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_depth(text: str) -> None:
    # The scanner is iterative: nesting is counted before the recursive composer sees it.
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, _OPEN):
            depth += 1
            if depth > MAX_DEPTH:
                line = token.start_mark.line + 1
                raise YamlRefused(f"nested more than {MAX_DEPTH} levels deep (line {line})")
        elif isinstance(token, _CLOSE):
            depth -= 1


def _check_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """The values ``node`` expands to, aliases counted each time they are used; each shared
    node is measured once, so a bomb is measured in microseconds."""
    if id(node) in sizes:
        return sizes[id(node)]
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_check_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        _check_keys_once(node)
        size += sum(_check_size(k, sizes) + _check_size(v, sizes) for k, v in node.value)
    if size > MAX_VALUES:
        raise YamlRefused(f"expands to more than {MAX_VALUES} values (through its aliases, "
                          f"line {node.start_mark.line + 1}): not a configuration")
    sizes[id(node)] = size
    return size


def _check_keys_once(node: yaml.MappingNode) -> None:
    """A key given twice in one mapping: YAML keeps the last silently, so a second
    ``decision:`` section written further down would drop the first (its ``armed: true``)."""
    seen: dict[str, int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.value == "<<":
            continue
        line = key.start_mark.line + 1
        if key.value in seen:
            raise YamlRefused(f"key {key.value!r} is given twice, on lines {seen[key.value]} "
                              f"and {line}: YAML would keep the second and drop the first")
        seen[key.value] = line
