"""Subscriptions: which customer is on which plan, since when, with how many seats.

A subscription file is YAML (or JSON): either a list of subscriptions or a mapping with one key,
``subscriptions``. Numbers never pass through ``float``: YAML floats are read as ``Decimal``
(JSON too). Every problem of a file is reported at once, each with its line::

    subs.yaml:14 subscriptions[3].seats[2].effective: must be after seats[1].effective (2026-11-15)

List positions in these paths count from 1, as the user counts: ``subscriptions[1]`` is the
first subscription of the file.

and raised as :class:`SubscriptionFileError` (a :class:`~billing.errors.SubscriptionError`) whose
``problems`` lists :class:`~billing.errors.PlanProblem` records.

Dates are UTC days. ``end`` is exclusive: a subscription with ``end: 2026-12-01`` is billed
through November 30. Seats are a constant or a schedule of :class:`SeatChange` entries, each
giving the count from its ``effective`` day on; a schedule begins on or before ``start``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Collection, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Final

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from billing.errors import PlanProblem, SubscriptionFileError
from billing.periods import (
    Interval,
    Period,
    active_days,
    day_ratio,
    period_for_label,
    prorate,
)
from billing.textfile import TextProblem, check_brackets, check_yaml_shape, decode_text

Loc = tuple[str | int, ...]

__all__ = [
    "PackPurchase",
    "SeatChange",
    "Subscription",
    "SubscriptionFileError",
    "load_subscriptions",
    "parse_subscriptions",
]


def _problem(at: Loc, message: str) -> PydanticCustomError:
    """A validation error that points below the field being validated (``at``: e.g.
    ``(2, "effective")`` under ``seats``); the file loader turns it into a line number."""
    return PydanticCustomError("subscription", "{message}", {"message": message, "at": at})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeatChange(_Model):
    """One step of a seat schedule: from ``effective`` on, the account has ``seats`` seats."""

    effective: dt.date = Field(description="First UTC day on which this seat count applies.")
    seats: int = Field(ge=0, strict=True, description="Seats from `effective` until the next change.")


class PackPurchase(_Model):
    """A purchase of a plan's prepaid pack (e.g. credits), billed in the period it falls in."""

    date: dt.date = Field(description="UTC day of the purchase.")
    pack: str = Field(min_length=1, description="Name of the pack in the plan's `packs` list.")
    count: int = Field(default=1, ge=1, strict=True, description="How many packs were bought at once.")


def _seats_tag(value: Any) -> str:
    return "schedule" if isinstance(value, list | tuple) else "count"


Seats = Annotated[
    Annotated[int, Field(ge=0, strict=True), Tag("count")] | Annotated[list[SeatChange], Tag("schedule")],
    Discriminator(_seats_tag),
]


class Subscription(_Model):
    """A customer on a plan from ``start`` (to ``end``, exclusive), billed in periods counted
    from ``anchor``."""

    customer_id: str = Field(min_length=1, description="Our id for the customer.")
    plan: str = Field(min_length=1, description="Plan id; its version is looked up per period.")
    start: dt.date = Field(description="First UTC day of the subscription.")
    end: dt.date | None = Field(
        default=None,
        description="First UTC day no longer subscribed (exclusive); null: open-ended.",
    )
    anchor: dt.date | None = Field(
        default=None,
        description="Billing anchor: periods are counted from this day. Default: `start`.",
    )
    seats: Seats = Field(
        default=1,
        description="A constant seat count, or a schedule of seat changes (the first on or "
        "before `start`).",
    )
    packs: list[PackPurchase] = Field(
        default_factory=list, description="Prepaid packs bought, each billed in its period."
    )
    overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-customer price overrides: charge name -> field -> value, applied by the "
        "rating engine over the plan's own values.",
    )
    attributes: dict[str, str] = Field(
        default_factory=dict, description="Free-form customer attributes (region, segment...)."
    )

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: dt.date | None, info: ValidationInfo) -> dt.date | None:
        start = info.data.get("start")
        if end is not None and start is not None and end <= start:
            raise ValueError(f"must be after start ({start}); end is exclusive")
        return end

    @field_validator("seats")
    @classmethod
    def _schedule_in_order(
        cls, seats: int | list[SeatChange], info: ValidationInfo
    ) -> int | list[SeatChange]:
        if isinstance(seats, int):
            return seats
        if not seats:
            raise ValueError("a seat schedule needs at least one entry")
        start = info.data.get("start")
        end = info.data.get("end")
        if start is not None and seats[0].effective > start:
            raise _problem(
                (0, "effective"),
                f"seats[1].effective ({seats[0].effective}) is after start ({start}): the "
                "schedule must say how many seats there are from the start"
            )
        for i in range(1, len(seats)):
            if seats[i].effective <= seats[i - 1].effective:
                raise _problem(
                    (i, "effective"),
                    f"seats[{i + 1}].effective ({seats[i].effective}) must be after "
                    f"seats[{i}].effective ({seats[i - 1].effective})"
                )
        if end is not None and seats[-1].effective >= end:
            raise _problem(
                (len(seats) - 1, "effective"),
                f"seats[{len(seats)}].effective ({seats[-1].effective}) is on or after the "
                f"end ({end}): it would never apply"
            )
        return seats

    @field_validator("packs")
    @classmethod
    def _packs_while_active(
        cls, packs: list[PackPurchase], info: ValidationInfo
    ) -> list[PackPurchase]:
        start = info.data.get("start")
        end = info.data.get("end")
        for i, pack in enumerate(packs):
            if (start is not None and pack.date < start) or (end is not None and pack.date >= end):
                raise _problem(
                    (i, "date"),
                    f"packs[{i + 1}].date ({pack.date}) is outside the subscription "
                    f"({start} to {end or 'open'})"
                )
        return packs

    @property
    def anchor_date(self) -> dt.date:
        """The billing anchor: ``anchor`` if given, else ``start``."""
        return self.start if self.anchor is None else self.anchor

    def period_for(self, label: str, interval: Interval) -> Period:
        """The billing period named by ``label`` ("2026-11"): the one that starts within it,
        counted from this subscription's anchor (see :func:`billing.periods.period_for_label`)."""
        return period_for_label(self.anchor_date, interval, label)

    def seat_schedule(self) -> list[tuple[dt.date, int]]:
        """``(effective, seats)`` steps, the first on or before ``start``."""
        if isinstance(self.seats, int):
            return [(self.start, self.seats)]
        return [(change.effective, change.seats) for change in self.seats]

    def seats_on(self, day: dt.date) -> int:
        """Seats on ``day`` (0 outside the subscription)."""
        if day < self.start or (self.end is not None and day >= self.end):
            return 0
        count = 0
        for effective, seats in self.seat_schedule():
            if effective > day:
                break
            count = seats
        return count

    def seat_segments(self, period: Period) -> list[tuple[int, Period]]:
        """Pieces of ``period`` with a constant seat count, clipped to the subscription's
        ``[start, end)``, in order; adjacent pieces with the same count are merged and pieces
        with zero seats left out. Each piece is prorated with
        ``prorate(period, piece.start, piece.end)``."""
        active = period.clip(self.start, self.end)
        if active is None:
            return []
        steps = self.seat_schedule()
        out: list[tuple[int, Period]] = []
        for i, (effective, seats) in enumerate(steps):
            until = steps[i + 1][0] if i + 1 < len(steps) else None
            piece = active.clip(effective, until)
            if piece is None or seats == 0:
                continue
            if out and out[-1][0] == seats and out[-1][1].end == piece.start:
                piece = Period(out[-1][1].start, piece.end)
                out.pop()
            out.append((seats, piece))
        return out

    def seat_quantity(self, period: Period) -> Decimal:
        """Seats times the fraction of ``period`` each was active, summed: 10 seats all month
        plus 1 seat for 15 of 30 days is 10 + 15/30 = 10.5 seat-periods. Exact to the last digit
        when the period has a terminating ratio; otherwise 60 significant digits."""
        seat_days = sum(
            seats * active_days(period, piece.start, piece.end)
            for seats, piece in self.seat_segments(period)
        )
        return day_ratio(seat_days, period)

    def active_fraction(self, period: Period) -> Decimal:
        """Fraction of ``period``'s days inside the subscription (1 for a whole period)."""
        return prorate(period, self.start, self.end)

    def packs_in(self, period: Period) -> list[PackPurchase]:
        """Pack purchases dated within ``period``."""
        return [pack for pack in self.packs if period.contains(pack.date)]

    def overlaps(self, other: Subscription) -> bool:
        """True if the two subscriptions' ``[start, end)`` ranges share a day."""
        a_end = self.end or dt.date.max
        b_end = other.end or dt.date.max
        return self.start < b_end and other.start < a_end


# ---------------------------------------------------------------------------------------------
# Files

class _Loader(yaml.SafeLoader):
    """Safe YAML, except that floats become Decimal (read from their text, never via float)."""


def _decimal_constructor(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    try:
        value = Decimal(text.replace("_", ""))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise yaml.constructor.ConstructorError(
            None, None, f"not a finite decimal number: {text!r}", node.start_mark
        )
    return value


def _timestamp_constructor(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """Dates as usual; an impossible one (2026-11-31) stays text so validation reports its line."""
    try:
        return loader.construct_yaml_timestamp(node)  # type: ignore[arg-type]
    except ValueError:
        return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:float", _decimal_constructor)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_constructor)


def _lines(node: yaml.Node, loc: Loc, out: dict[Loc, int], dups: list[tuple[Loc, int]]) -> None:
    """Record the 1-based line of every key and item below ``node`` (keys at their key line)."""
    out.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*loc, key)
            if key in seen:
                dups.append((child, key_node.start_mark.line + 1))
            seen.add(key)
            out[child] = key_node.start_mark.line + 1
            _lines(value_node, child, out, dups)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*loc, i), out, dups)


def _yaml_document(text: str) -> tuple[Any, dict[Loc, int], list[tuple[Loc, int]]]:
    check_yaml_shape(text)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Loc, int] = {}
        dups: list[tuple[Loc, int]] = []
        if node is None:
            return None, lines, dups
        _lines(node, (), lines, dups)
        return loader.construct_document(node), lines, dups
    finally:
        loader.dispose()


def _json_document(text: str) -> tuple[Any, dict[Loc, int], list[tuple[Loc, int]]]:
    check_brackets(text)
    data = json.loads(text, parse_float=Decimal)
    try:  # JSON is (nearly always) YAML: borrow the YAML parser for line numbers only.
        _, lines, dups = _yaml_document(text)
    except yaml.YAMLError:
        lines, dups = {}, []
    return data, lines, dups


def _show(loc: Sequence[str | int]) -> str:
    """A location as the user reads it: list positions count from 1 (``subscriptions[1]`` is
    the first subscription)."""
    out = ""
    for part in loc:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


_MODELS: Final[dict[str, type[BaseModel]]] = {"seats": SeatChange, "packs": PackPurchase}


def _message(error: Any, shown: Loc) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        model: type[BaseModel] = Subscription
        if len(shown) > 3 and isinstance(shown[2], str):
            model = _MODELS.get(shown[2], Subscription)
        allowed = ", ".join(model.model_fields)
        return f"unknown field {shown[-1]!r} (allowed: {allowed})"
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, str | int | Decimal | dt.date) and not isinstance(value, bool):
        message += f" (got {value!r})" if isinstance(value, str) else f" (got {value})"
    return message


def _locate(
    error_loc: Sequence[str | int], data: Any, base: Loc, shown_base: Loc, lines: dict[Loc, int]
) -> tuple[Loc, int | None]:
    """Map a pydantic error location to (path shown to the user, line in the file)."""
    cur: Any = data
    real: Loc = base
    shown: Loc = shown_base
    line = lines.get(real)
    resolved = True
    for part in error_loc:
        found = resolved and (
            (isinstance(cur, dict) and part in cur)
            or (isinstance(cur, list) and isinstance(part, int) and part < len(cur))
        )
        if found:
            cur, real, shown = cur[part], (*real, part), (*shown, part)
            line = lines.get(real, line)
        elif isinstance(part, str) and not isinstance(cur, dict):
            continue  # a union tag or '[key]', not a place in the file
        else:
            shown = (*shown, part)
            resolved = False
    return shown, line


def _problems_of_entries(
    entries: list[Any], base: Loc, filename: str, lines: dict[Loc, int]
) -> tuple[list[tuple[int, Subscription]], list[PlanProblem]]:
    subs: list[tuple[int, Subscription]] = []
    problems: list[PlanProblem] = []
    for i, entry in enumerate(entries):
        shown_base: Loc = ("subscriptions", i)
        if not isinstance(entry, dict):
            problems.append(PlanProblem(filename, lines.get((*base, i)), _show(shown_base),
                                        "expected a mapping (customer_id, plan, start, ...)"))
            continue
        try:
            subs.append((i, Subscription.model_validate(entry)))
        except ValidationError as exc:
            for error in exc.errors():
                loc = (*error["loc"], *error.get("ctx", {}).get("at", ()))
                shown, line = _locate(loc, entry, (*base, i), shown_base, lines)
                problems.append(PlanProblem(filename, line, _show(shown), _message(error, shown)))
    return subs, problems


def _overlaps(
    subs: list[tuple[int, Subscription]], base: Loc, filename: str, lines: dict[Loc, int]
) -> list[PlanProblem]:
    problems: list[PlanProblem] = []
    for k, (i, sub) in enumerate(subs):
        for j, other in subs[:k]:
            if other.customer_id == sub.customer_id and other.overlaps(sub):
                where = lines.get((*base, j))
                problems.append(PlanProblem(
                    filename,
                    lines.get((*base, i, "customer_id"), lines.get((*base, i))),
                    _show(("subscriptions", i, "customer_id")),
                    f"customer {sub.customer_id!r} already has a subscription overlapping this "
                    f"one (subscriptions[{j + 1}]{f', line {where}' if where else ''}: "
                    f"{other.start} to {other.end or 'open'}); end one before the other starts",
                ))
                break
    return problems


def _unknown_plans(subs: list[tuple[int, Subscription]], known: Collection[str], base: Loc,
                   filename: str, lines: dict[Loc, int]) -> list[PlanProblem]:
    problems: list[PlanProblem] = []
    ids = sorted(known)
    for i, sub in subs:
        if sub.plan in known:
            continue
        close = difflib.get_close_matches(sub.plan, ids, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        problems.append(PlanProblem(
            filename, lines.get((*base, i, "plan"), lines.get((*base, i))),
            _show(("subscriptions", i, "plan")),
            f"no plan {sub.plan!r} in the plan files ({hint}known plans: "
            f"{', '.join(ids) or 'none'})",
        ))
    return problems


def parse_subscriptions(
    text: str, *, filename: str = "<subscriptions>", suffix: str = ".yaml",
    known_plans: Collection[str] | None = None,
) -> list[Subscription]:
    """Subscriptions from YAML text (JSON with ``suffix=".json"``); see
    :func:`load_subscriptions`."""
    try:
        text = decode_text(text.encode("utf-8", "surrogatepass"))
        if suffix.lower() == ".json":
            data, lines, dups = _json_document(text)
        else:
            data, lines, dups = _yaml_document(text)
    except TextProblem as exc:
        raise SubscriptionFileError([PlanProblem(filename, exc.line, "", exc.reason)]) from None
    except RecursionError:
        raise SubscriptionFileError(
            [PlanProblem(filename, None, "", "nested too deeply to be a subscription file")]
        ) from None
    except json.JSONDecodeError as exc:
        raise SubscriptionFileError(
            [PlanProblem(filename, exc.lineno, "", f"not valid JSON: {exc.msg}")]
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = None if mark is None else mark.line + 1
        reason = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise SubscriptionFileError(
            [PlanProblem(filename, line, "", f"not valid YAML: {reason}")]
        ) from None

    problems = [
        PlanProblem(
            filename,
            line,
            _show(("subscriptions", *loc) if loc and isinstance(loc[0], int) else loc),
            "duplicate key (the later one would win)",
        )
        for loc, line in dups
    ]
    base: Loc
    if data is None:
        problems.append(PlanProblem(
            filename, 1, "", "the file is empty: expected a list of subscriptions, or a mapping "
            "with the single key 'subscriptions' (write `subscriptions: []` for none)"))
        raise SubscriptionFileError(problems)
    if isinstance(data, dict) and set(data) == {"subscriptions"}:
        entries, base = data["subscriptions"], ("subscriptions",)
    else:
        entries, base = data, ()
    if not isinstance(entries, list):
        problems.append(PlanProblem(
            filename, lines.get(base), _show(base),
            "expected a list of subscriptions, or a mapping with the single key 'subscriptions'",
        ))
        raise SubscriptionFileError(problems)
    subs, entry_problems = _problems_of_entries(entries, base, filename, lines)
    problems += entry_problems
    problems += _overlaps(subs, base, filename, lines)
    if known_plans is not None:
        problems += _unknown_plans(subs, known_plans, base, filename, lines)
    if problems:
        problems.sort(key=lambda p: (p.line or 0))
        raise SubscriptionFileError(problems)
    return [sub for _, sub in subs]


def load_subscriptions(
    path: str | Path, *, known_plans: Collection[str] | None = None
) -> list[Subscription]:
    """Read a subscription file: YAML (a list, or ``{subscriptions: [...]}``) or JSON (by the
    ``.json`` suffix). Raises :class:`SubscriptionFileError` listing every problem of the file,
    each as ``file:line path: message``; a customer with two subscriptions whose date ranges
    overlap is one of them, and so is a plan id not in ``known_plans`` (when given: the ids of
    the plan catalog)."""
    p = Path(path)
    try:
        text = decode_text(p.read_bytes())
    except OSError as exc:
        problem = PlanProblem(str(path), None, "", f"cannot read: {exc.strerror or exc}")
        raise SubscriptionFileError([problem]) from None
    except TextProblem as exc:
        raise SubscriptionFileError([PlanProblem(str(path), exc.line, "", exc.reason)]) from None
    return parse_subscriptions(text, filename=str(path), suffix=p.suffix, known_plans=known_plans)
