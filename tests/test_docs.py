"""The README and docs/*.md as a user reads them: every ```python snippet runs as written, and
every relative link points to a file (and heading) that exists.

Snippets run in a fresh interpreter whose working folder is a temporary copy of the repository's
top level (symbolic links to its files and folders), so relative paths such as ``plans`` and
``examples/subscriptions.yaml`` resolve as they do from the repository root, and files a snippet
writes land in the temporary folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))

_FENCE = re.compile(r"^(```|~~~)", re.MULTILINE)
_PYTHON = re.compile(r"^```python[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _snippets() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in _PYTHON.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            out.append((f"{doc.relative_to(ROOT)}:{line}", match.group(1)))
    return out


SNIPPETS = _snippets()


def test_the_docs_have_python_snippets() -> None:
    assert len(SNIPPETS) >= 3, SNIPPETS


@pytest.mark.parametrize(
    ("where", "code"),
    [pytest.param(w, c, marks=[pytest.mark.slow] if "spark" in c else []) for w, c in SNIPPETS],
    ids=[w for w, _ in SNIPPETS],
)
def test_a_python_snippet_runs_as_written(where: str, code: str, tmp_path: Path) -> None:
    for entry in ROOT.iterdir():
        if entry.name not in {".git", ".venv", "__pycache__"}:
            (tmp_path / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, check=False, timeout=600, env=env)
    assert done.returncode == 0, f"{where}:\n{code}\n--- stderr:\n{done.stderr[-3000:]}"


# -- links ---------------------------------------------------------------------------------------


def _prose(text: str, *, inline_code: bool = False) -> str:
    """``text`` without fenced code blocks (and inline code unless ``inline_code``): links there
    are not links, nor are headings."""
    parts = _FENCE.split(text)
    kept, inside, index = [], False, 0
    while index < len(parts):
        part = parts[index]
        if part in ("```", "~~~"):
            inside = not inside
        elif not inside:
            kept.append(part)
        else:
            kept.append("\n" * part.count("\n"))
        index += 1
    prose = "".join(kept)
    return prose if inline_code else re.sub(r"`[^`\n]*`", "", prose)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    anchors: set[str] = set()
    counts: dict[str, int] = {}
    for line in _prose(doc.read_text(encoding="utf-8"), inline_code=True).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            slug = _slug(match.group(1))
            n = counts.get(slug, 0)
            counts[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _links() -> list[tuple[Path, int, str]]:
    out = []
    for doc in DOCS:
        prose = _prose(doc.read_text(encoding="utf-8"))
        for match in _LINK.finditer(prose):
            target = match.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
                continue
            out.append((doc, prose.count("\n", 0, match.start()) + 1, target))
    return out


def test_the_docs_have_relative_links() -> None:
    assert len(_links()) >= 5


def test_every_relative_link_points_to_an_existing_file_and_heading() -> None:
    broken = []
    for doc, line, target in _links():
        path_part, _, anchor = target.partition("#")
        path = (doc.parent / path_part).resolve() if path_part else doc
        where = f"{doc.relative_to(ROOT)}:{line}: ({target})"
        if not path.exists():
            broken.append(f"{where} no such file")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{where} no heading #{anchor} in {path.name}")
        elif ROOT not in path.parents and path != ROOT:
            broken.append(f"{where} points outside the repository")
    assert not broken, "\n".join(broken)


def test_slugs_follow_github() -> None:
    assert _slug("JSON report schema (`--json`)") == "json-report-schema---json"
    assert _slug("What if: supplier price change") == "what-if-supplier-price-change"
