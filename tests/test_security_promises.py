"""SECURITY.md names the test behind each promise: every one it names must exist.

A renamed or deleted test would otherwise leave a promise that nothing checks.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# `tests/x.py::test_name`, `tests/x.py`, and `::test_name` (a test of the file named last).
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`")


def named_tests() -> list[tuple[str, str | None]]:
    text = (ROOT / "SECURITY.md").read_text()
    found, current = [], None
    for match in REFERENCE.finditer(text):
        path, name = match.groups()
        if path is None and name is None:
            continue
        current = path or current
        found.append((current, name))
    return found


def test_security_md_names_tests():
    assert len(named_tests()) > 40


def test_every_test_security_md_names_exists():
    missing = []
    for path, name in named_tests():
        source = ROOT / path
        if not source.exists():
            missing.append(path)
        elif name and not re.search(rf"^\s*(async )?def {name}\(", source.read_text(), re.MULTILINE):
            missing.append(f"{path}::{name}")
    assert missing == []
