"""The live ledger: a system of record for usage, holds, alerts and closed invoices.

One implementation over SQLite (embedded; ``sqlite://`` in memory, which is what
:class:`billing.Meter` is) and PostgreSQL (many workers on many machines). Everything a
decision reads and writes happens in one database transaction:

- ``record`` inserts events keyed by id (first one wins; a later copy is a duplicate or a
  conflict) and adds the new ones to the daily and hourly aggregate rows of the one-scan
  aggregation (customer, model, band, UTC day; customer, UTC hour) in the same transaction;
- ``authorize`` locks the customer (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the customer's row,
  locked by an upsert until the commit), rates the period with the rater that bills it, open
  holds included at their worst case, and inserts the hold only if no hard limit is crossed;
- ``settle`` records the real usage as an event (id: the request id) and closes the hold in the
  same transaction; ``release`` closes it unused; holds past their expiry are ignored by every
  decision (``expire_holds`` marks them expired).

The code is in ``core.py`` (transactions, configuration, recording, reading, close, alerts),
``holds.py``, ``rows.py`` and ``columns.py`` (event rows and sums), ``limits.py`` (what a
customer may still spend, read off the rater's invoices), ``db.py`` and ``schema.py``.

The catalog and the subscriptions live in the ledger too (``set_catalog``,
``set_subscriptions``); each process reloads them when another one changed them.
"""

from __future__ import annotations

from billing.ledger.core import DEFAULT_HOLD_TTL
from billing.ledger.holds import Holds

__all__ = ["DEFAULT_HOLD_TTL", "Ledger"]


class Ledger(Holds):
    """A durable usage ledger. Open one with :meth:`open`; the same API on every backend.

    >>> ledger = Ledger.open("sqlite:///ledger.db", costbook=CostBook.default())
    >>> ledger.set_catalog(load_catalog(["plans"])); ledger.set_subscriptions(subs)
    >>> ledger.record(events)                       # RecordResult(new=..., duplicates=...)
    >>> hold = ledger.authorize("acme", "req-1", "gpt-5", 20_000, 2_000)
    >>> ledger.settle(hold.hold_id, {"input_tokens": 12_000, "output_tokens": 800})
    >>> ledger.bill_to_date("acme")                  # the invoice as billing rate gives it
    """
