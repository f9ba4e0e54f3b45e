"""The ledger example (a web handler: authorize, call the model, settle or release) runs as
documented, on both backends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_web_handler_example_authorizes_settles_releases_and_refuses(ledger_url: str
                                                                         ) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ledger_web_handler.py"), ledger_url],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("req-1: 200 OK")
    assert lines[1] == 'req-2: 502 Bad Gateway {"error": "upstream timed out"}'
    # worst case of req-3: 6,000 words x 4 = 24,000 prompt tokens x 5.00 / 1M = 0.12, plus
    # 4,000 output tokens x 20.00 / 1M = 0.08: 0.20 needed, 0.05 available (nothing spent yet:
    # req-1 cost 400 x 5.00 / 1M + 120 x 20.00 / 1M = 0.0044, billed 0.00).
    assert lines[2] == ('req-3: 402 Payment Required {"error": "limit", "available": "0.05", '
                        '"needed": "0.20", "currency": "USD"}')
    assert lines[3] == 'req-1: 409 Conflict {"error": "request req-1 is settled"}'
    assert lines[4] == "bill to date 0.00 USD, open holds 0, available 0.05"
    assert "s3cret" not in done.stdout + done.stderr
