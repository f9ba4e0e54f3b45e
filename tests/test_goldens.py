"""The goldens: invoices and compare reports of this version, byte for byte.

``scripts/goldens.py`` recorded tests/goldens/ (invoices of the examples and of every catalog plan,
``billing compare`` JSON/CSV/HTML on every shipped trace). This test makes them again, through the
same CLI, and fails on any byte that moved: a refactor must not change a single bill. After a
deliberate change, re-record as the script's docstring says and commit the goldens with it.
"""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def _goldens_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("goldens", REPO / "scripts" / "goldens.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_outputs_equal_the_recorded_goldens_byte_for_byte(tmp_path: Path) -> None:
    goldens = _goldens_script()
    written = goldens.record(tmp_path)
    assert len(written) == len(list(goldens.GOLDENS.iterdir())) == 27  # 15 invoices + 4 x 3
    changed = goldens.differences(tmp_path)
    report = []
    for name in changed[:3]:
        old, new = goldens.GOLDENS / name, tmp_path / name
        old_lines = old.read_text(encoding="utf-8").splitlines() if old.exists() else []
        new_lines = new.read_text(encoding="utf-8").splitlines() if new.exists() else []
        report.extend(list(difflib.unified_diff(old_lines, new_lines, f"golden/{name}",
                                                f"now/{name}", lineterm="", n=1))[:40])
    assert changed == [], "outputs differ from tests/goldens/:\n" + "\n".join(report)
