"""Reading a user's text file safely: text, size and shape checked before parsing.

Every file a person writes for the library (plans, subscriptions, cost files, workloads, seats
files, invoice files) is read through here. A hostile or broken one must give a one-line error
with its line, quickly and in little memory, never a traceback:

- bytes that are not UTF-8 (or UTF-16/32 with a byte order mark, or binary data) name the line:
  guessing an encoding could read other numbers than the ones the author wrote;
- control characters YAML and TOML refuse (a NUL byte) name the line;
- nesting deeper than :data:`MAX_DEPTH` is refused from the parser's event stream (which is not
  recursive) before anything recursive runs;
- YAML aliases that expand to more than :data:`MAX_VALUES` values (a "billion laughs" bomb) are
  refused while counting, without expanding anything.

Each reader wraps :class:`TextProblem` (1-based ``line``, or ``None`` for the file as a whole,
and a ``reason``) in its own error class, which names the file.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import yaml

from billing.errors import TextProblem

__all__ = [
    "MAX_DEPTH",
    "MAX_VALUES",
    "TextProblem",
    "check_brackets",
    "check_yaml_shape",
    "decode_text",
    "read_text",
]

MAX_DEPTH = 100
"""Deepest nesting of mappings and lists accepted (a plan needs fewer than 10 levels)."""

MAX_VALUES = 100_000
"""Most values (scalars, mappings, lists) a YAML document may expand to through aliases."""


_REFUSED = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters neither YAML nor TOML accept in a document (both refuse C0 controls but tab, LF and
CR; YAML also refuses DEL and C1 controls but NEL)."""


_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def _line_and_column(text: str, index: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - start + 1


def decode_text(data: bytes) -> str:
    """The file's text, or :class:`TextProblem` naming the line of the first byte that is not
    UTF-8 or the first character a YAML or TOML file cannot hold. A UTF-8 byte order mark is
    dropped."""
    for bom, name in _BOMS:  # UTF-32 LE starts with UTF-16 LE's mark: longest first
        if data.startswith(bom):
            raise TextProblem(1, f"the file is {name} (it starts with a byte order mark): save it "
                                 "as UTF-8")
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise TextProblem(line, f"not UTF-8: byte 0x{data[exc.start]:02x} at column {column} "
                                "(save the file as UTF-8)") from None
    found = _REFUSED.search(text)
    if found is not None:
        line, column = _line_and_column(text, found.start())
        raise TextProblem(line, f"control character U+{ord(found.group()):04X} at column "
                                f"{column} (is this a binary file?)")
    return text


def read_text(path: str | Path) -> str:
    """Read ``path`` with :func:`decode_text`; ``OSError`` (missing, a folder...) propagates."""
    return decode_text(Path(path).read_bytes())


_MARKS = re.compile(r"[\"'#\[\]{}\n]")


def _opens_scalar(text: str, index: int) -> bool:
    """Whether a quote at ``index`` starts a quoted value: first on its line, or after one of
    ``: - [ { , ? =`` (YAML indicators, TOML's ``=``), spaces aside."""
    before = index - 1
    while before >= 0 and text[before] in " \t":
        before -= 1
    return before < 0 or text[before] in "\n:-[{,?="


def check_brackets(text: str) -> None:
    """Refuse flow collections (``[``, ``{``: YAML flow style, TOML arrays and inline tables,
    JSON) nested deeper than :data:`MAX_DEPTH`, by counting brackets outside quotes and comments
    in one pass over the text: the parsers' own cost on such input grows with the square of the
    depth, or exhausts Python's recursion limit."""
    depth = 0
    quote = ""
    comment = False
    previous = "\n"
    for match in _MARKS.finditer(text):
        mark = match.group()
        if mark == "\n":
            comment = False
        elif comment:
            pass
        elif quote:
            if mark == quote:
                quote = ""
        elif mark in "\"'":
            if _opens_scalar(text, match.start()):  # not an apostrophe inside a plain scalar
                quote = mark
        elif mark == "#":
            before = text[match.start() - 1] if match.start() else "\n"
            comment = before in " \t\n" or previous == "\n"
        elif mark in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line, column = _line_and_column(text, match.start())
                raise TextProblem(line, f"nested more than {MAX_DEPTH} levels deep (column "
                                        f"{column})")
        else:
            depth = max(0, depth - 1)
        previous = mark


def _line(event: yaml.Event) -> int | None:
    mark = event.start_mark
    return None if mark is None else mark.line + 1


def check_yaml_shape(text: str) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` and alias expansion beyond
    :data:`MAX_VALUES` with :class:`TextProblem`, reading only the parser's events (flat, never
    expanded). Syntax errors are left to the real parse, which reports them with their line."""
    check_brackets(text)
    sizes: dict[str, int] = {}
    stack: list[tuple[int, str | None]] = []  # values in each open collection, its anchor
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise TextProblem(_line(event),
                                      f"nested more than {MAX_DEPTH} levels deep")
                stack.append((0, event.anchor))
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                count, anchor = stack.pop()
                size = count + 1
                if anchor is not None:
                    sizes[anchor] = size
            elif isinstance(event, yaml.ScalarEvent):
                size = 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                size = sizes.get(event.anchor or "", 1)
            else:
                continue
            if stack:
                count, anchor = stack[-1]
                stack[-1] = (count + size, anchor)
                size = count + size
            if size > MAX_VALUES:
                raise TextProblem(
                    _line(event),
                    f"the document expands to more than {MAX_VALUES:,} values through YAML "
                    "aliases (*name): refused (an alias bomb?)",
                )
    except yaml.YAMLError:
        return
