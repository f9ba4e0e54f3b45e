"""Holds: authorize a request's worst case, settle it to the real usage, release it, expire it.

Every decision about a customer runs under that customer's lock (see ``billing/ledger/db.py``)
and prices with the rater that bills the customer (``billing/ledger/limits.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from billing.errors import BillingError, LedgerError, RatingError
from billing.ledger import limits as lim
from billing.ledger.core import LedgerCore, usage_of
from billing.ledger.db import Cursor
from billing.ledger.model import Alert, Balance, Denial, Hold, Settlement
from billing.ledger.rows import (
    _PROMPT_CLASSES,
    _prepare,
)
from billing.money import ZERO, in_exact_context
from billing.plans.model import (
    CapCharge,
    CommitmentCharge,
    CreditsCharge,
    FlatCharge,
    RateCardCharge,
    SeatsCharge,
)
from billing.rating.rater import RatingResult
from billing.usage.aggregate_python import band_of
from billing.usage.aggregates import Counts
from billing.usage.customer import CustomerUsage
from billing.usage.events import UsageEvent
from billing.usage.keys import DAY_US, EPOCH, HOUR_US, epoch_micros, instant

__all__ = ["Holds"]


class Holds(LedgerCore):
    """The holds of a ledger (mixed into :class:`billing.ledger.Ledger`)."""


    def _hold_usage(self, usage: CustomerUsage, rows: Iterable[Sequence[Any]]) -> CustomerUsage:
        """``usage`` plus each hold's worst case (model, prompt class, prompt, output, instant)
        as a request at the hold's instant."""
        merged = CustomerUsage(usage.customer_id,
                               {k: Counts(*c.as_tuple()) for k, c in usage.daily.items()},
                               {k: Counts(*c.as_tuple()) for k, c in usage.hourly.items()})
        for model, prompt_class, prompt, output, created_us in rows:
            prompt, output, created_us = int(prompt), int(output), int(created_us)
            counts = Counts(prompt if prompt_class == "input" else 0,
                            prompt if prompt_class == "cached_input" else 0,
                            prompt if prompt_class == "cache_write" else 0, output, 1, 1)
            band = band_of(prompt, 1, self._thresholds) if self._thresholds else 0
            merged.daily.setdefault((model, band, created_us // DAY_US), Counts()).add(counts)
            merged.hourly.setdefault(created_us // HOUR_US, Counts()).add(counts)
        return merged

    def _open_holds(self, cur: Cursor, customer_id: str, now_us: int,
                    *, exclude: str | None = None) -> list[tuple[Any, ...]]:
        cur.execute("SELECT request_id, model, prompt_class, prompt_tokens, output_tokens, "
                    "created_us, amount FROM holds WHERE customer_id = ? AND state = 'open' "
                    "AND expires_us > ?", (customer_id, now_us))
        return [tuple(r) for r in cur.fetchall() if r[0] != exclude]

    def _hold(self, row: Sequence[Any]) -> Hold:
        (request_id, customer_id, model, _cls, prompt, output, amount, currency, created_us,
         expires_us, state) = row
        return Hold(request_id, customer_id, model, int(prompt), int(output), Decimal(amount),
                    currency, instant(int(created_us)), instant(int(expires_us)), state)

    _HOLD_COLUMNS = ("request_id, customer_id, model, prompt_class, prompt_tokens, "
                     "output_tokens, amount, currency, created_us, expires_us, state")

    def _find_hold(self, cur: Cursor, request_id: str) -> tuple[Any, ...] | None:
        cur.execute(f"SELECT {self._HOLD_COLUMNS}, usage, settled_amount FROM holds "
                    "WHERE request_id = ?", (request_id,))
        row = cur.fetchone()
        return None if row is None else tuple(row)

    @in_exact_context
    def authorize(self, customer_id: str, request_id: str, model: str, max_input_tokens: int,
                  max_output_tokens: int, *, ttl: timedelta | None = None,
                  at: datetime | None = None) -> Hold | Denial:
        """Hold the worst-case cost of a request before making it.

        The worst case is ``max_input_tokens`` of prompt (priced in whichever prompt class,
        fresh, cached or cache write, costs the most) and ``max_output_tokens`` of output,
        priced by the customer's plan at this instant, on top of the usage so far and every
        open hold. It is reserved atomically: no interleaving of workers can grant two holds
        that together cross a hard limit (credits with ``overage: block``, a ``cap``, the
        customer's spending limit). Returns the :class:`Hold`, or a :class:`Denial` with the
        reason and what is still available. Idempotent by ``request_id``: asking again returns
        the same hold (in whatever state it is now)."""
        for name, value in (("max_input_tokens", max_input_tokens),
                            ("max_output_tokens", max_output_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise LedgerError(f"authorize {request_id!r}: {name} must be a whole number "
                                  f">= 0, got {value!r}")
        if not request_id or not customer_id or not model:
            raise LedgerError("authorize needs a customer id, a request id and a model")
        moment = self._moment(at)
        now_us = epoch_micros(moment)

        def work(cur: Cursor) -> Hold | Denial:
            # Authorize writes no usage: it needs no lock on the configuration, only the
            # customer's (a configuration change racing it is ordered before or after it).
            # The customer's lock, then its holds and usage: one round trip on PostgreSQL,
            # whose commit need not wait for the disk (a hold is no usage; see
            # docs/ledger.md, "Holds and the disk").
            limit_text, version, (found_holds, daily, hourly) = self._db.lock_and_read(
                cur, customer_id, [
                    (f"SELECT {self._HOLD_COLUMNS}, usage, settled_amount FROM holds "
                     "WHERE request_id = ? OR (customer_id = ? AND state = 'open' AND "
                     "expires_us > ?)", (request_id, customer_id, now_us)),
                    (self._DAILY_SQL, (customer_id, customer_id)),
                    (self._HOURLY_SQL, (customer_id,))],
                durable=False)
            cfg = self._cfg(cur, version)
            spend_limit = None if limit_text is None else Decimal(limit_text)
            rows = [tuple(r) for r in found_holds]
            found = next((r for r in rows if r[0] == request_id), None)
            if found is not None:
                if found[1] != customer_id:
                    raise LedgerError(f"request id {request_id!r} is already a hold of "
                                      "another customer")
                return self._hold(self._expired(found, now_us)[:11])
            # Open holds at their worst case (model, prompt class, prompt, output, instant);
            # holds past their expiry are ignored (marked expired by expire_holds or a settle).
            holds = [(r[0], r[2], r[3], r[4], r[5], r[8], r[6]) for r in rows]
            usage = usage_of(customer_id, daily, hourly)
            try:
                sub, _period, before = self._rate_at(
                    cfg, self._hold_usage(usage, (h[1:6] for h in holds)), moment)
            except RatingError as exc:
                return Denial(request_id, customer_id, "no subscription", ZERO, ZERO, "",
                              str(exc))
            plan = cfg.raters.for_subscription(sub, _period).plan
            worst: tuple[Decimal, str, RatingResult] | None = None
            rater = cfg.raters.for_subscription(sub, _period)
            best = _worst_prompt_class(rater, model) if max_input_tokens else "input"
            classes: tuple[str, ...] = _PROMPT_CLASSES if best is None else (best,)
            for cls in classes:
                trial = self._hold_usage(usage, [*(h[1:6] for h in holds),
                                                 (model, cls, max_input_tokens,
                                                  max_output_tokens, now_us)])
                after = self._rate_at(cfg, trial, moment)[2]
                value = lim.exposure(after)
                if worst is None or value > worst[0] or (
                        value == worst[0] and after.refused_value > worst[2].refused_value):
                    worst = (value, cls, after)
            assert worst is not None
            amount = max(worst[0] - lim.exposure(before), ZERO)
            currency = plan.currency
            crossed = lim.crossed(plan, sub, before, worst[2], moment.date(), spend_limit)
            if crossed is not None:
                prior, _ = crossed
                return Denial(request_id, customer_id, prior.basis, amount, prior.available,
                              currency, f"request {request_id!r} of {customer_id!r} may cost "
                              f"{amount} {currency}; {prior.available} {currency} available "
                              f"under the {prior.basis}")
            life = ttl if ttl is not None else self.hold_ttls.get(sub.plan, self.hold_ttl)
            if life <= timedelta(0):
                raise LedgerError(f"authorize {request_id!r}: the hold's TTL must be positive")
            expires_us = now_us + epoch_micros(EPOCH + life)
            row = (request_id, customer_id, model, worst[1], max_input_tokens,
                   max_output_tokens, str(amount), currency, now_us, expires_us, "open")
            cur.execute(f"INSERT INTO holds ({self._HOLD_COLUMNS}) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            return self._hold(row)

        # Pipelined: BEGIN goes with the lock and reads, the hold's INSERT with the COMMIT.
        result: Hold | Denial = self._retrying(work, pipelined=True)
        return result

    @staticmethod
    def _expired(row: tuple[Any, ...], now_us: int) -> tuple[Any, ...]:
        if row[10] == "open" and int(row[9]) <= now_us:
            return (*row[:10], "expired", *row[11:])
        return row

    def hold(self, hold_id: str, *, at: datetime | None = None) -> Hold | None:
        """The hold with that id, in its state now (None if there is none)."""
        now_us = epoch_micros(self._moment(at))
        with self._db.read() as cur:
            row = self._find_hold(cur, hold_id)
        return None if row is None else self._hold(self._expired(row, now_us)[:11])

    def holds(self, customer_id: str | None = None, *, at: datetime | None = None
              ) -> list[Hold]:
        """Open (unexpired) holds, of one customer or of all."""
        now_us = epoch_micros(self._moment(at))
        where, params = "state = 'open' AND expires_us > ?", [now_us]
        if customer_id is not None:
            where += " AND customer_id = ?"
            params.append(customer_id)  # type: ignore[arg-type]
        with self._db.read() as cur:
            cur.execute(f"SELECT {self._HOLD_COLUMNS} FROM holds WHERE {where} "
                        "ORDER BY request_id", params)
            return [self._hold(r) for r in cur.fetchall()]

    @in_exact_context
    def settle(self, hold_id: str, usage: Mapping[str, int], *,
               at: datetime | None = None, customer_id: str | None = None,
               model: str | None = None) -> Settlement:
        """Record the request's real usage (``input_tokens``, ``cached_input_tokens``,
        ``cache_write_tokens``, ``output_tokens``; absent: 0) and free the hold, in one
        transaction. The usage is an event with the hold's id, at the hold's instant (so it
        lands in the period and day it was reserved in). The prompt may not exceed the hold's
        ``max_input_tokens`` nor the output its ``max_output_tokens``.

        Idempotent: settling again with the same usage returns the first settlement (marked
        duplicate); with other usage it is an error. A hold that expired is settled only if
        the usage still fits under the customer's limits now; otherwise nothing is recorded
        and :class:`~billing.errors.LedgerError` says so.

        ``customer_id`` and ``model`` (those given to :meth:`authorize`) let a hold the ledger
        does not know be settled like an expired one: recorded now if the usage fits, else
        refused (a hold is written without waiting for the disk, so a database server crash
        can lose the last ones; see docs/ledger.md). Without them, an unknown hold is an
        error."""
        counts = _usage_counts(hold_id, usage)
        moment = self._moment(at)
        fresh_alerts: list[Alert] = []

        def work(cur: Cursor) -> Settlement:
            fresh_alerts.clear()
            cur.execute("SELECT customer_id FROM holds WHERE request_id = ?", (hold_id,))
            owner = cur.fetchone()
            if owner is None and (customer_id is None or model is None):
                raise LedgerError(f"no hold {hold_id!r} (to settle a hold the ledger lost, "
                                  "give the customer_id and model it was authorized for)")
            customer = owner[0] if owner is not None else customer_id
            assert customer is not None
            if owner is not None and customer_id is not None and customer_id != customer:
                raise LedgerError(f"hold {hold_id!r} belongs to {customer!r}, not "
                                  f"{customer_id!r}")
            cfg = self._cfg(cur, self._db.lock_config(cur, exclusive=False))
            limit_text, _version = self._db.lock_customer(cur, customer)
            row = self._find_hold(cur, hold_id)  # under the customer's lock
            if row is None:
                assert model is not None
                settled = self._settle_lost(cur, cfg, customer, model, hold_id, counts,
                                            moment, limit_text)
            else:
                settled = self._settle_known(cur, cfg, row, hold_id, counts, moment,
                                             limit_text)
            if cfg.rules and not settled.duplicate:
                fresh_alerts.extend(self._check_alerts(cur, cfg, customer, moment))
            return settled

        settlement: Settlement = self._retrying(work)
        self._notify(fresh_alerts)
        return settlement

    def _settle_known(self, cur: Cursor, cfg: Any, row: tuple[Any, ...], hold_id: str,
                      counts: dict[str, int], moment: datetime, limit_text: str | None
                      ) -> Settlement:
        customer_id = row[1]
        now_us = epoch_micros(moment)
        state, stored_usage, settled = row[10], row[11], row[12]
        text = json.dumps(counts, sort_keys=True)
        currency = row[7]
        if state == "settled":
            if stored_usage != text:
                raise LedgerError(f"hold {hold_id!r} was already settled with other usage "
                                  f"({stored_usage}); not settled again")
            return Settlement(hold_id, Decimal(settled), currency, duplicate=True)
        if state == "released":
            raise LedgerError(f"hold {hold_id!r} was released; it cannot be settled")
        prompt = counts["input_tokens"] + counts["cached_input_tokens"] + \
            counts["cache_write_tokens"]
        if prompt > int(row[4]) or counts["output_tokens"] > int(row[5]):
            raise LedgerError(
                f"hold {hold_id!r}: usage ({prompt} prompt, {counts['output_tokens']} "
                f"output tokens) exceeds what was authorized ({row[4]} prompt, {row[5]} "
                "output); authorize the real maximum, or release the hold")
        event = _event(hold_id, customer_id, instant(int(row[8])), row[2], counts)
        if state == "expired" or int(row[9]) <= now_us:
            over = self._overshoot(cur, cfg, event, moment, limit_text)
            if over is not None:
                cur.execute("UPDATE holds SET state = 'expired' WHERE request_id = ?",
                            (hold_id,))
                raise LedgerError(
                    f"hold {hold_id!r} expired and its usage no longer fits under the "
                    f"customer's {over}: nothing was recorded")
        amount = self._record_settled(cur, cfg, event, moment)
        cur.execute("UPDATE holds SET state = 'settled', usage = ?, settled_amount = ? "
                    "WHERE request_id = ?", (text, str(amount), hold_id))
        return Settlement(hold_id, amount, currency)

    def _settle_lost(self, cur: Cursor, cfg: Any, customer_id: str, model: str, hold_id: str,
                     counts: dict[str, int], moment: datetime, limit_text: str | None
                     ) -> Settlement:
        """A hold the ledger does not know, settled like an expired one: its usage recorded
        now if it still fits, and the hold written as settled (so a repeated settle is a
        duplicate)."""
        now_us = epoch_micros(moment)
        event = _event(hold_id, customer_id, moment, model, counts)
        over = self._overshoot(cur, cfg, event, moment, limit_text)
        if over is not None:
            raise LedgerError(
                f"hold {hold_id!r} is not in the ledger (never granted, or lost with the "
                f"database server's last commits) and its usage does not fit under the "
                f"customer's {over}: nothing was recorded")
        amount = self._record_settled(cur, cfg, event, moment)
        sub, period, _ = self._rate_at(cfg, self._usage(cur, customer_id), moment)
        currency = cfg.raters.for_subscription(sub, period).plan.currency
        prompt = counts["input_tokens"] + counts["cached_input_tokens"] + \
            counts["cache_write_tokens"]
        cur.execute(f"INSERT INTO holds ({self._HOLD_COLUMNS}, usage, settled_amount) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (hold_id, customer_id, model, "input", prompt, counts["output_tokens"],
                     str(amount), currency, now_us, now_us, "settled",
                     json.dumps(counts, sort_keys=True), str(amount)))
        return Settlement(hold_id, amount, currency)

    def _overshoot(self, cur: Cursor, cfg: Any, event: UsageEvent, moment: datetime,
                   limit_text: str | None) -> str | None:
        """The limit ``event`` would cross now, on top of the usage and the open holds (None:
        it fits)."""
        customer_id = event.customer_id
        now_us = epoch_micros(moment)
        usage_now = self._usage(cur, customer_id)
        sub, period, _ = self._rate_at(cfg, usage_now, moment)
        others = self._open_holds(cur, customer_id, now_us, exclude=event.id)
        base = self._hold_usage(usage_now, (h[1:6] for h in others))
        plan = cfg.raters.for_subscription(sub, period).plan
        trial = self._hold_usage(base, ())
        _add_event(trial, event, self._thresholds)
        over = lim.crossed(plan, sub, self._rate_at(cfg, base, moment)[2],
                           self._rate_at(cfg, trial, moment)[2], moment.date(),
                           None if limit_text is None else Decimal(limit_text))
        return None if over is None else str(over[0].basis)

    def _record_settled(self, cur: Cursor, cfg: Any, event: UsageEvent, moment: datetime
                        ) -> Decimal:
        """Record a settled request's event; returns what it cost under the plan."""
        before = self._rate_at(cfg, self._usage(cur, event.customer_id), moment)[2]
        result, _new = self._insert_events(cur, cfg, _prepare([event]))
        if result.conflicts:
            raise LedgerError(f"hold {event.id!r}: an event with id {event.id!r} was already "
                              "recorded with other content")
        after = self._rate_at(cfg, self._usage(cur, event.customer_id), moment)[2]
        return max(lim.exposure(after) - lim.exposure(before), ZERO)

    def release(self, hold_id: str, *, customer_id: str | None = None,
                model: str | None = None) -> Hold:
        """Free a hold unused. Idempotent; a settled hold stays settled (returned as is).

        A hold the ledger does not know (lost with the database server's last commits, see
        docs/ledger.md, or never granted) reserved nothing: releasing it frees nothing and is
        no error. It is returned released, with amount 0; given ``customer_id`` (and
        ``model``), it is also written as released, so the request id stays released like
        any released hold (a retried authorize returns it, a settle is refused)."""
        now_us = epoch_micros(self._moment(None))

        def work(cur: Cursor) -> Hold:
            if customer_id is not None:  # ordered with the customer's authorize and settle
                self._db.lock_customer(cur, customer_id)
            row = self._find_hold(cur, hold_id)
            if row is None:
                lost = (hold_id, customer_id or "", model or "", "input", 0, 0, "0", "",
                        now_us, now_us, "released")
                if customer_id is None:
                    return self._hold(lost)
                cur.execute(f"INSERT INTO holds ({self._HOLD_COLUMNS}) VALUES "
                            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) "
                            "DO NOTHING", lost)
                row = self._find_hold(cur, hold_id)
                assert row is not None
            if row[10] in ("open", "expired"):
                cur.execute("UPDATE holds SET state = 'released' WHERE request_id = ? AND "
                            "state IN ('open', 'expired')", (hold_id,))
                row = (*row[:10], "released", *row[11:])
            return self._hold(row[:11])

        result: Hold = self._retrying(work)
        return result

    def expire_holds(self, at: datetime | None = None) -> int:
        """Mark every hold past its expiry as expired (decisions already ignore them);
        returns how many."""
        now_us = epoch_micros(self._moment(at))

        def work(cur: Cursor) -> int:
            cur.execute("UPDATE holds SET state = 'expired' WHERE state = 'open' AND "
                        "expires_us <= ? RETURNING request_id", (now_us,))
            return len(cur.fetchall())

        count: int = self._retrying(work)
        return count

    @in_exact_context
    def balance(self, customer_id: str, at: datetime | None = None) -> Balance:
        """Bill to date, usable credits, open holds and what may still be authorized."""
        moment = self._moment(at)
        now_us = epoch_micros(moment)
        with self._db.read() as cur:
            cfg = self._cfg(cur)
            usage = self._usage(cur, customer_id)
            holds = self._open_holds(cur, customer_id, now_us)
            spend_limit = self._spend_limit(cur, customer_id)
        sub, period, result = self._rate_at(cfg, usage, moment)
        _, _, held = self._rate_at(cfg, self._hold_usage(usage, (h[1:6] for h in holds)),
                                   moment)
        plan = cfg.raters.for_subscription(sub, period).plan
        bounds = lim.limits(plan, sub, held, moment.date(), spend_limit)
        tight = min(bounds, key=lambda b: b.available) if bounds else None
        return Balance(
            customer_id=customer_id, currency=plan.currency, period_start=period.start,
            period_end=period.end, bill_to_date=result.invoice.total,
            remaining_credits=lim.usable_credits(result, moment.date()), open_holds=len(holds),
            held=sum((Decimal(h[6]) for h in holds), ZERO),
            available=None if tight is None else tight.available,
            limit_reason=None if tight is None else tight.basis)


def _worst_prompt_class(rater: Any, model: str) -> str | None:
    """The prompt class (fresh, cached or cache write) that costs the most for ``model`` when
    the plan prices tokens only through list-price rate cards (value linear in each class);
    None when another charge could price them (the caller then rates all three)."""
    totals = [ZERO, ZERO, ZERO]
    for index, charge in enumerate(rater.plan.charges):
        if isinstance(charge, RateCardCharge):
            if charge.cost_plus is not None or getattr(charge, "fallback", None) is not None:
                return None
            try:
                prices = rater.list_prices(index, charge, model)
            except BillingError:
                return None
            for i in range(3):
                totals[i] += prices[i]
        elif not isinstance(charge, FlatCharge | SeatsCharge | CreditsCharge
                            | CommitmentCharge | CapCharge):
            return None
    return _PROMPT_CLASSES[max(range(3), key=lambda i: (totals[i], -i))]



def _usage_counts(hold_id: str, usage: Mapping[str, int]) -> dict[str, int]:
    names = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
    unknown = sorted(set(usage) - set(names))
    if unknown:
        raise LedgerError(f"settle {hold_id!r}: unknown usage field(s) {', '.join(unknown)}; "
                          f"the fields are {', '.join(names)}")
    counts: dict[str, int] = {}
    for name in names:
        value = usage.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise LedgerError(f"settle {hold_id!r}: {name} must be a whole number >= 0, "
                              f"got {value!r}")
        counts[name] = value
    return counts


def _event(hold_id: str, customer_id: str, moment: datetime, model: str,
           counts: Mapping[str, int]) -> UsageEvent:
    return UsageEvent(hold_id, customer_id, moment, model,
                      input_tokens=counts["input_tokens"],
                      cached_input_tokens=counts["cached_input_tokens"],
                      cache_write_tokens=counts["cache_write_tokens"],
                      output_tokens=counts["output_tokens"])


def _add_event(usage: CustomerUsage, event: UsageEvent, thresholds: tuple[int, ...]) -> None:
    micros = epoch_micros(event.timestamp)
    band = band_of(event.prompt_tokens, event.requests, thresholds) if thresholds else 0
    counts = Counts(event.input_tokens, event.cached_input_tokens, event.cache_write_tokens,
                    event.output_tokens, event.requests, 1)
    usage.daily.setdefault((event.model, band, micros // DAY_US), Counts()).add(counts)
    usage.hourly.setdefault(micros // HOUR_US, Counts()).add(counts)

