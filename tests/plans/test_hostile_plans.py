"""Hostile and broken plan and subscription files: a one-line error naming the file and line,
quickly and in little memory, never a traceback."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from billing.cli import main
from billing.errors import PlanValidationError
from billing.plans import load_plan
from billing.subscriptions import SubscriptionFileError, load_subscriptions

HOSTILE = Path(__file__).parents[1] / "fixtures" / "hostile"
ROOT = Path(__file__).parents[2]

PLAN = """\
id: hostile
version: 2026-11-01
currency: USD
charges:
  - { kind: flat, name: Fee, price: "10.00" }
"""

# billion laughs: 9 levels of 9 aliases, 9^9 = 387,420,489 strings once expanded
BOMB = "notes:\n  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"  {n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))
DEEP = "notes: " + "[" * 20_000 + "]" * 20_000 + "\n"

LIMIT_SECONDS = 2.0  # a safety bound: generous, the checks take milliseconds
LIMIT_BYTES = 200 * 2**20


def _bounded(load: object, path: Path) -> str:
    """The error of ``load(path)``, checked to come in under 2 s and 200 MB."""
    assert callable(load)
    started = time.perf_counter()
    with pytest.raises((PlanValidationError, SubscriptionFileError)) as caught:
        load(path)
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    try:
        with pytest.raises((PlanValidationError, SubscriptionFileError)):
            load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < LIMIT_SECONDS, elapsed
    assert peak < LIMIT_BYTES, peak
    return str(caught.value)


@pytest.mark.parametrize(("body", "line", "reason"), [
    # lists a..e hold 10, 91, 820, 7,381 and 66,430 values; f's second *e crosses 100,000
    (BOMB, 12, "expands to more than 100,000 values"),
    (DEEP, 6, "nested more than 100 levels deep"),
    # an apostrophe in a plain value does not hide the brackets after it
    ("name: it's deep\n" + DEEP, 7, "nested more than 100 levels deep"),
])
def test_alias_bomb_and_deep_nesting_in_a_plan(
    tmp_path: Path, body: str, line: int, reason: str
) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN + body, encoding="utf-8")
    message = _bounded(load_plan, path)
    assert message.startswith(f"{path}:{line}: ") and reason in message
    assert "\n" not in message


@pytest.mark.parametrize(("body", "reason"), [
    (BOMB, "expands to more than 100,000 values"),
    (DEEP, "nested more than 100 levels deep"),
])
def test_alias_bomb_and_deep_nesting_in_subscriptions(
    tmp_path: Path, body: str, reason: str
) -> None:
    path = tmp_path / "subs.yaml"
    path.write_text("subscriptions: []\n" + body, encoding="utf-8")
    message = _bounded(load_subscriptions, path)
    assert message.startswith(f"{path}:") and reason in message
    json_path = tmp_path / "subs.json"
    json_path.write_text("[" * 20_000 + "]" * 20_000, encoding="utf-8")
    message = _bounded(load_subscriptions, json_path)
    assert message.startswith(f"{json_path}:1: nested more than 100 levels deep")


# (file, line, what the one-line message says)
CASES = [
    ("plan-deep-nesting.toml", 6, "nested more than 100 levels deep"),
    ("plan-invalid-utf8.toml", 3, "not UTF-8: byte 0xe9"),
    ("plan-duplicate-key.toml", 5, "a key or table given twice"),
    ("plan-huge-integer.toml", 5, "a number with more than 40 digits"),
    ("plan-double-billing.yaml", 11, "charge 1 'Sonnet list price' (line 7)"),
    ("plan-ambiguous-markup.yaml", 10, 'markup 20 is ambiguous: write "20%"'),
    ("plan-impossible-date.yaml", 3, "day is out of range for month"),
    ("plan-python-tag.yaml", 8, "tag:yaml.org,2002:python/object/apply:os.system is not allowed"),
    ("plan-fallback-never-applies.yaml", 11, "the fallback never applies"),
]


@pytest.mark.parametrize(("name", "line", "reason"), CASES)
def test_plan_check_names_file_and_line_without_traceback(
    name: str, line: int, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = HOSTILE / name
    assert path.read_bytes().startswith(b"# hostile: ")
    assert main(["plan", "check", str(path)]) == 1
    captured = capsys.readouterr()
    [message, summary] = captured.err.splitlines()
    assert message.startswith(f"{path}:{line}") and reason in message, message
    assert summary == "1 plan file(s) with problems"
    assert "Traceback" not in captured.err + captured.out


def test_duplicate_yaml_keys_in_a_plan_name_both_lines() -> None:
    text = PLAN + "charges:\n  - { kind: flat, name: Other, price: \"1.00\" }\n"
    path_text = text.replace("currency: USD\n", "currency: USD\ninterval: month\ncurrency: EUR\n")
    with pytest.raises(PlanValidationError) as caught:
        from billing.plans import load_plan_text

        load_plan_text(path_text, filename="dup.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "dup.yaml:5 currency: duplicate key 'currency' (first on line 3; the later one would win)",
        "dup.yaml:8 charges: duplicate key 'charges' (first on line 6; the later one would win)",
    ]


def test_invalid_utf8_in_subscriptions_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "subs.yaml"
    path.write_bytes(b"subscriptions:\n  - customer_id: acme\n    plan: p\xe9yg\n")
    with pytest.raises(SubscriptionFileError) as caught:
        load_subscriptions(path)
    assert str(caught.value) == (
        f"{path}:3: not UTF-8: byte 0xe9 at column 12 (save the file as UTF-8)")


def test_an_unknown_plan_id_in_a_subscriptions_file_names_its_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subs = tmp_path / "subs.yaml"
    subs.write_text("""\
subscriptions:
  - customer_id: acme-labs
    plan: team-seats
    start: 2026-11-01
  - customer_id: borealis
    plan: team-seat
    start: 2026-11-01
""", encoding="utf-8")
    with pytest.raises(SubscriptionFileError) as caught:
        load_subscriptions(subs, known_plans=["payg", "team-seats"])
    assert str(caught.value) == (
        f"{subs}:6 subscriptions[2].plan: no plan 'team-seat' in the plan files (did you mean "
        "'team-seats'? known plans: payg, team-seats)")
    events = tmp_path / "events.csv"
    events.write_text("id,customer_id,timestamp,model,input_tokens,output_tokens\n"
                      "e1,acme-labs,2026-11-02T00:00:00Z,gpt-4o,10,10\n", encoding="utf-8")
    code = main(["rate", "--plans", str(ROOT / "plans"), "--subscriptions", str(subs),
                 "--events", str(events), "--period", "2026-11"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{subs}:6 subscriptions[2].plan: no plan 'team-seat'" in err
    assert "Traceback" not in err


def test_an_empty_subscriptions_file_is_an_error_not_zero_invoices(tmp_path: Path) -> None:
    path = tmp_path / "subs.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(SubscriptionFileError) as caught:
        load_subscriptions(path)
    assert str(caught.value).startswith(f"{path}:1: the file is empty")
    path.write_text("subscriptions: []\n", encoding="utf-8")
    assert load_subscriptions(path) == []  # none, said on purpose
