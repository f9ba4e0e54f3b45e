"""Totals below Stripe's minimum charge: `billing push --dry-run` warns, with the reason.

Stripe takes such an invoice but does not charge it: finalized, it is marked paid and the amount
due goes to the customer's balance, collected with the next invoice (Stripe's invoice API
reference). So the dry run still counts it as pushable (exit 0) and says what will happen.
Invoices made as a user makes them: the catalog's payg plan, `billing rate`, then `billing push`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.cli import main
from billing.cli import push as push_cli
from billing.sinks.stripe_testing import FakeStripe
from tests.stripe.helpers import TEST_KEY, build_invoice

PLANS = Path(__file__).parents[2] / "plans"

SUBSCRIPTIONS = """\
subscriptions:
  - { customer_id: tiny, plan: payg, start: 2026-11-01 }
  - { customer_id: small, plan: payg, start: 2026-11-01 }
  - { customer_id: idle, plan: payg, start: 2026-11-01 }
"""

# payg prices gpt-4o-mini input at 0.25 per 1M tokens:
#   tiny   1,000,000 tokens -> 0.25 USD: above zero, below Stripe's 0.50 USD minimum
#   small  2,000,000 tokens -> 0.50 USD: exactly the minimum, charged
#   idle   no usage         -> 0.00 USD: nothing to charge, nothing to warn about
EVENTS = """\
id,customer_id,timestamp,model,input_tokens,cached_input_tokens,cache_write_tokens,output_tokens,requests
e1,tiny,2026-11-03T10:00:00Z,gpt-4o-mini,1000000,0,0,0,1
e2,small,2026-11-04T10:00:00Z,gpt-4o-mini,2000000,0,0,0,1
"""


@pytest.fixture
def invoices_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    (tmp_path / "subs.yaml").write_text(SUBSCRIPTIONS, encoding="utf-8")
    (tmp_path / "events.csv").write_text(EVENTS, encoding="utf-8")
    out = tmp_path / "invoices.json"
    assert main(["rate", "--events", str(tmp_path / "events.csv"), "--period", "2026-11",
                 "--subscriptions", str(tmp_path / "subs.yaml"), "--plans", str(PLANS),
                 "--out", str(out)]) == 0
    capsys.readouterr()
    return out


@pytest.fixture
def cli_fake(monkeypatch: pytest.MonkeyPatch) -> FakeStripe:
    fake = FakeStripe()
    monkeypatch.setattr(push_cli, "HTTP_CLIENT_FACTORY", lambda: fake)
    monkeypatch.setenv("STRIPE_API_KEY", TEST_KEY)
    return fake


def _warnings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("warning")]


def test_dry_run_warns_of_a_total_below_the_minimum_charge(
    invoices_file: Path, tmp_path: Path, cli_fake: FakeStripe,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["push", str(invoices_file), "--dry-run", "--state", str(tmp_path / "s.sqlite")])
    out = capsys.readouterr().out
    assert code == 0  # Stripe takes the invoice: a warning, not a refusal
    assert cli_fake.requests == []
    (warning,) = _warnings(out)  # tiny only: small is at the minimum, idle owes nothing
    assert "total 0.25 USD is below Stripe's minimum charge of 0.50 USD" in warning
    assert "marked paid" in warning and "customer tiny's Stripe balance" in warning
    assert "next invoice" in warning
    assert "dry run: 3 invoices would be pushed, 0 cannot be, 1 below Stripe's minimum charge" \
        in out


def test_a_push_warns_too_and_still_pushes(
    invoices_file: Path, tmp_path: Path, cli_fake: FakeStripe,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["push", str(invoices_file), "--state", str(tmp_path / "s.sqlite")])
    captured = capsys.readouterr()
    assert code == 0
    (warning,) = _warnings(captured.err)
    assert "total 0.25 USD is below Stripe's minimum charge of 0.50 USD" in warning
    assert "pushed 3, skipped 0 (already pushed), failed 0" in captured.out


@pytest.mark.parametrize(("currency", "amount", "warned"), [
    ("GBP", "0.29", True),    # Stripe's minimum is 0.30 GBP
    ("GBP", "0.30", False),
    ("JPY", "49", True),      # 50 JPY (a zero-decimal currency: 50 minor units)
    ("HUF", "174", True),     # 175.00 HUF: 17400 < 17500 (Stripe counts HUF in hundredths)
    ("USD", "-0.20", False),  # a credit is no charge
    ("ISK", "1", False),      # not in Stripe's table: not checked
])
def test_the_minimum_is_per_currency_in_stripe_units(
    tmp_path: Path, cli_fake: FakeStripe, capsys: pytest.CaptureFixture[str],
    currency: str, amount: str, warned: bool,
) -> None:
    from tests.stripe.test_stripe_cli import write_invoices

    invoice = build_invoice("c", currency, [("flat", "Fee", amount)])
    path = write_invoices(tmp_path / "invoices.json", [invoice])
    assert main(["push", str(path), "--dry-run", "--state", str(tmp_path / "s.sqlite")]) == 0
    assert bool(_warnings(capsys.readouterr().out)) is warned
