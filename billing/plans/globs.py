"""Whether two model globs can match the same model name, and an example of one.

Plans select models with shell globs (:func:`fnmatch.fnmatchcase` on lowercased names: ``*``,
``?``, ``[seq]``, ``[!seq]``). Two charges bill the same tokens when their globs have a model
name in common, which is decided here exactly: each glob is a small automaton over characters,
and the two intersect when their product reaches both ends. The breadth-first search returns a
short such name, so an error can say "models such as 'claude-sonnet-4-5'".
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["globs_overlap"]


@dataclass(frozen=True, slots=True)
class _Chars:
    """One character position of a glob: any of ``chars`` (or any but them, if ``negated``)."""

    chars: frozenset[str]
    negated: bool


_STAR = None
_Token = _Chars | None
_EXAMPLE_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-._"


def _tokens(glob: str) -> list[_Token]:
    """The glob as fnmatch reads it: ``*`` (None), or one character from a set."""
    out: list[_Token] = []
    text = glob.lower()
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        i += 1
        if c == "*":
            if not out or out[-1] is not _STAR:
                out.append(_STAR)
        elif c == "?":
            out.append(_Chars(frozenset(), True))
        elif c == "[":
            j = i
            if j < n and text[j] == "!":
                j += 1
            if j < n and text[j] == "]":
                j += 1
            while j < n and text[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal '['
                out.append(_Chars(frozenset("["), False))
                continue
            body = text[i:j]
            i = j + 1
            negated = body.startswith("!")
            if negated:
                body = body[1:]
            chars: set[str] = set()
            k = 0
            while k < len(body):
                if k + 2 < len(body) and body[k + 1] == "-":
                    low, high = ord(body[k]), ord(body[k + 2])
                    chars.update(chr(x) for x in range(low, min(high, low + 0x2FF) + 1))
                    k += 3
                else:
                    chars.add(body[k])
                    k += 1
            out.append(_Chars(frozenset(chars), negated))
        else:
            out.append(_Chars(frozenset(c), False))
    return out


def _common(a: _Chars, b: _Chars) -> str | None:
    """A character both positions accept, if any."""
    if not a.negated and not b.negated:
        both = a.chars & b.chars
        return min(both) if both else None
    if not a.negated or not b.negated:
        allowed, refused = (a.chars, b.chars) if not a.negated else (b.chars, a.chars)
        left = allowed - refused
        return min(left) if left else None
    refused = a.chars | b.chars
    return next((c for c in _EXAMPLE_CHARS if c not in refused), None) or next(
        chr(x) for x in range(0x20, 0x3000) if chr(x) not in refused
    )


_ANY = _Chars(frozenset(), True)


def globs_overlap(a: str, b: str) -> str | None:
    """A short lowercase model name both globs match, or None when no name matches both."""
    ta, tb = _tokens(a), _tokens(b)
    start, goal = (0, 0), (len(ta), len(tb))
    parent: dict[tuple[int, int], tuple[tuple[int, int], str] | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        if state == goal:
            name: list[str] = []
            step = parent[state]
            while step is not None:
                state, char = step
                name.append(char)
                step = parent[state]
            return "".join(reversed(name))
        i, j = state
        moves: list[tuple[tuple[int, int], str]] = []
        # a star may match nothing
        if i < len(ta) and ta[i] is _STAR:
            moves.append(((i + 1, j), ""))
        if j < len(tb) and tb[j] is _STAR:
            moves.append(((i, j + 1), ""))
        # or both read one character
        if i < len(ta) and j < len(tb):
            pa, pb = ta[i], tb[j]
            if not (pa is _STAR and pb is _STAR):
                common = _common(pa or _ANY, pb or _ANY)
                if common is not None:
                    moves.append(((i if pa is _STAR else i + 1, j if pb is _STAR else j + 1),
                                  common))
        for nxt, read in moves:
            if nxt not in parent:
                parent[nxt] = (state, read)
                queue.append(nxt)
    return None
