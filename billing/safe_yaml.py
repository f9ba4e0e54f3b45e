"""Reading a user's text file safely: strict UTF-8 and bounded YAML, every refusal with a line.

Two checks every YAML file of the library (cost files, workloads) goes through before it is
composed or loaded:

- :func:`read_text` decodes the file as UTF-8 (a UTF-8 byte order mark is allowed). Any other
  encoding is refused with the line of the first bad byte, a UTF-16/32 byte order mark and NUL
  bytes (binary data) by name: guessing an encoding could read different numbers than the ones
  the author wrote.
- :func:`check_yaml_shape` walks the YAML event stream (iteratively, in libyaml when available)
  and refuses nesting deeper than ``max_depth`` and documents whose aliases expand to more than
  ``max_nodes`` nodes (the "billion laughs" alias bomb), before anything recursive or
  exponential touches them. It costs one linear pass.

Both raise :class:`TextFileProblem`, which carries the 1-based ``line`` (or ``None`` when the
file as a whole is the problem) and a ``reason``; each reader wraps it in its own error class.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Final

import yaml

__all__ = ["MAX_DEPTH", "MAX_NODES", "TextFileProblem", "check_yaml_shape", "decode_text",
           "read_text"]

MAX_DEPTH: Final = 64
"""Deepest nesting of mappings and sequences accepted (a plan or cost file needs under 10)."""

MAX_NODES: Final = 200_000
"""Most nodes a document may have once every alias is expanded."""

_PARSER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


class TextFileProblem(ValueError):
    """A file that is not acceptable text or YAML; ``line`` is 1-based or ``None``."""

    def __init__(self, line: int | None, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}" if line is not None else reason)


def decode_text(data: bytes) -> str:
    """``data`` as text: strict UTF-8 (an optional UTF-8 BOM dropped), no NUL bytes."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise TextFileProblem(None, f"the file is {name} (it starts with a {name} byte order "
                                        "mark); save it as UTF-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise TextFileProblem(line, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at column "
                                    f"{column}); save the file as UTF-8") from None
    nul = text.find("\0")
    if nul >= 0:
        raise TextFileProblem(text.count("\n", 0, nul) + 1,
                              "binary data (a NUL byte): this is not a text file")
    return text


def read_text(path: str | Path) -> str:
    """Read ``path`` with :func:`decode_text`; ``OSError`` (missing, a folder...) propagates."""
    return decode_text(Path(path).read_bytes())


def check_yaml_shape(text: str, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Refuse YAML nested deeper than ``max_depth`` or expanding to more than ``max_nodes``.

    Syntax errors are left to the caller's loader (which reports them with their line): this
    pass stops quietly at the first one.
    """
    sizes: dict[str, int] = {}  # anchor -> nodes it expands to
    stack: list[list[int | str | None]] = []  # [nodes so far, anchor] per open collection
    total = 0
    aliases = 0
    try:
        for event in yaml.parse(text, Loader=_PARSER):
            line = event.start_mark.line + 1 if event.start_mark is not None else None
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= max_depth:
                    raise TextFileProblem(line, f"nested more than {max_depth} levels deep")
                stack.append([1, event.anchor])
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                count, anchor = stack.pop()
                assert isinstance(count, int)
                if isinstance(anchor, str):
                    sizes[anchor] = count
                size = count
            elif isinstance(event, yaml.ScalarEvent):
                size = 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                size = sizes.get(event.anchor or "", 1)
            else:
                continue
            if stack:
                count = stack[-1][0]
                assert isinstance(count, int)
                stack[-1][0] = count + size
            else:
                total += size
            inner = stack[0][0] if stack else 0
            assert isinstance(inner, int)
            if total + inner > max_nodes:
                what = ("its aliases (&anchor / *alias) expand to" if aliases
                        else "it holds")
                raise TextFileProblem(line, f"too large: {what} more than {max_nodes:,} values")
    except yaml.YAMLError:
        return
