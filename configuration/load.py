"""Reading a configuration file safely (docs/configuration.md#the-file-itself).

The file is bytes from a path or standard input, at most ``MAX_BYTES`` long, decoded as
UTF-8 (a clear error naming the first bad byte otherwise) and parsed with PyYAML's safe
loader, refusing what YAML allows but a configuration never needs and an attacker can
abuse: aliases (the "billion laughs" bomb expands a few hundred bytes into gigabytes),
merge keys, deep nesting, and a key given twice in one mapping (the last would silently win).
"""

import sys
from pathlib import Path

import yaml

from configuration.problems import ConfigError, Problem

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
STDIN = "-"


def read_source(source: str, stdin=None) -> tuple[bytes, str]:
    """The bytes of SOURCE (a path, or ``-`` for standard input) and the name to show in errors."""
    if source == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer
        return _read_limited(stream, "<stdin>"), "<stdin>"
    try:
        with Path(source).open("rb") as f:
            return _read_limited(f, source), source
    except OSError as e:
        raise ConfigError([Problem(source, f"cannot read the file: {e.strerror or e}")]) from None


def _read_limited(stream, name: str) -> bytes:
    data = stream.read(MAX_BYTES + 1)
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_BYTES:
        raise ConfigError([Problem(name, f"the file is larger than {MAX_BYTES} bytes (1 MiB): not a configuration")])
    return data


def decode(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(
            [Problem(name, f"not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start} (line {line})")]
        ) from None
    return text.removeprefix("\ufeff")


class _Loader(yaml.SafeLoader):
    """SafeLoader without aliases, merge keys, duplicate keys or deep nesting."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"aliases (*{event.anchor}) are not allowed in a borgui configuration", event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise yaml.constructor.ConstructorError(
                        None, None, "merge keys (<<) are not allowed in a borgui configuration", key_node.start_mark
                    )
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # an unhashable key: the base class reports it
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice in one mapping", key_node.start_mark
                    )
        return super().construct_mapping(node, deep=deep)


def parse(data: bytes, name: str):
    """The document in DATA, or ConfigError with one line naming the file and place."""
    text = decode(data, name)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = " ".join(part for part in (e.context, e.problem) if part)
        raise ConfigError([Problem(name, f"{where}{what}")]) from None
    except yaml.YAMLError as e:
        raise ConfigError([Problem(name, f"not valid YAML: {e}")]) from None
    except RecursionError:
        raise ConfigError([Problem(name, f"nested deeper than {MAX_DEPTH} levels")]) from None
