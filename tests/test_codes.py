"""Code mappings shipped as data: every file loads, and each reads both ways."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas.codes import CodeMap, available, load


@pytest.mark.parametrize("name", available())
def test_every_shipped_mapping_loads_and_round_trips(name: str) -> None:
    """Each mapping is valid, and mapping a target back gives a source that maps to it again."""
    mapping = load(name)
    assert name == mapping.name
    for pair in mapping.pairs:
        back = mapping.to_source(pair.target)
        assert back is not None
        assert pair.target == mapping.to_target(back)


def test_sex_both_ways() -> None:
    """CIN 1/2 are male/female; 0 and 9 are unknown, which maps back to 0."""
    sex = load("sex")
    assert ["unknown", "male", "female", "unknown"] == [sex.to_target(c) for c in "0129"]
    assert "0" == sex.to_source("unknown")
    assert sex.to_target("3") is None


def test_ambiguous_back_mapping_is_refused() -> None:
    """Two sources for one target without a preferred one is an error in the data."""
    with pytest.raises(ValidationError, match="mark one preferred"):
        CodeMap.model_validate(
            {
                "name": "x",
                "description": "x",
                "source": {"system": "a", "label": "A"},
                "target": {"system": "b", "label": "B"},
                "pairs": [
                    {"source": "1", "target": "t", "display": "one"},
                    {"source": "2", "target": "t", "display": "two"},
                ],
            }
        )


def test_unknown_mapping_name() -> None:
    """Asking for a mapping that is not shipped is a KeyError naming it."""
    with pytest.raises(KeyError, match="nope"):
        load("nope")
