"""The adapter authors' guide's example adapter and its tests run exactly as printed.

The guide (docs/adapter-authors.md) shows a complete ``csv-contact`` adapter and a test module for
it. This module loads both code blocks from the Markdown and lets pytest collect the guide's own
tests, so the documentation cannot drift from the protocol without the suite failing.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "adapter-authors.md"


def _block_after(text: str, marker: str) -> str:
    """The first ```python block after ``marker``."""
    start = text.index(marker)
    match = re.compile(r"```python\n(.*?)```", re.DOTALL).search(text, start)
    if match is None:
        raise LookupError(f"no python block after {marker!r} in {GUIDE}")
    return match.group(1)


_TEXT = GUIDE.read_text(encoding="utf-8")
_example = types.ModuleType("adapters.csv_contact")
_example.__file__ = f"{GUIDE}#csv-contact"
_code = compile(_block_after(_TEXT, "## A complete example"), _example.__file__, "exec")
exec(_code, _example.__dict__)  # noqa: S102 - our own documentation, from this repository
sys.modules["adapters.csv_contact"] = _example
# The guide's test module, executed here so pytest collects its test functions and fixtures.
_tests = compile(_block_after(_TEXT, "A test for the example"), f"{GUIDE}#tests", "exec")
exec(_tests, globals())  # noqa: S102 - our own documentation, from this repository


def test_the_guide_defines_its_tests() -> None:
    """Loading the guide produced the adapter and at least one test of each kind."""
    names = [
        n for n in globals() if n.startswith("test_") and n != "test_the_guide_defines_its_tests"
    ]
    assert "CsvContactAdapter" in vars(_example)
    assert len(names) >= 4
