"""Code mappings as data: one YAML file per mapping, loaded and checked by these models.

A mapping pairs codes of a *source* system with codes of a *target* system, for example the CIN
census ``Sex`` codes (0/1/2/9) with FHIR ``AdministrativeGender``. Translating forward is
``to_target``; back is ``to_source``. Where several source codes map to one target, the pair
marked ``preferred`` is the one used going back. An unknown code is ``None``, never a guess: the
caller reports it with the element it came from.

Files live beside this module (``<name>.yaml``); ``load("sex")`` reads ``sex.yaml`` once.
"""

from __future__ import annotations

from functools import cache, cached_property
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import Field, model_validator

from schemas.base import CanonicalModel

_HERE = Path(__file__).resolve().parent


class CodeSystemRef(CanonicalModel):
    """One side of a mapping."""

    system: str  # the code system's URL (a local one where the standard publishes none)
    label: str  # human name, for docs and error messages


class CodePair(CanonicalModel):
    """One source code and the target code it means."""

    source: Annotated[str, Field(min_length=1)]
    target: Annotated[str, Field(min_length=1)]
    display: str
    preferred: bool = False  # the source code chosen when mapping this target back


class CodeMap(CanonicalModel):
    """A checked mapping between two code systems."""

    name: str
    description: str
    source: CodeSystemRef
    target: CodeSystemRef
    pairs: Annotated[tuple[CodePair, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _consistent(self) -> CodeMap:
        sources = [p.source for p in self.pairs]
        if len(sources) != len(set(sources)):
            raise ValueError("a source code appears twice")
        by_target: dict[str, list[CodePair]] = {}
        for pair in self.pairs:
            by_target.setdefault(pair.target, []).append(pair)
        for target, pairs in by_target.items():
            if len(pairs) > 1 and sum(p.preferred for p in pairs) != 1:
                raise ValueError(f"target {target!r} has several sources: mark one preferred")
        return self

    def to_target(self, code: str) -> str | None:
        """The target code for a source code, or None if the mapping has none."""
        return self._forward.get(code)

    def to_source(self, code: str) -> str | None:
        """The source code for a target code, or None if the mapping has none."""
        return self._backward.get(code)

    def display(self, source_code: str) -> str | None:
        """The display text of a source code."""
        pair = next((p for p in self.pairs if p.source == source_code), None)
        return pair.display if pair else None

    # Computed once per mapping: the mappings are read on every message of the hot path.
    @cached_property
    def _forward(self) -> dict[str, str]:
        return {p.source: p.target for p in self.pairs}

    @cached_property
    def _backward(self) -> dict[str, str]:
        back: dict[str, str] = {}
        for pair in self.pairs:
            if pair.preferred or pair.target not in back:
                back[pair.target] = pair.source
        return back


@cache
def load(name: str) -> CodeMap:
    """The mapping in ``<name>.yaml`` beside this module (read and checked once)."""
    path = _HERE / f"{name}.yaml"
    if not path.is_file():
        raise KeyError(f"no code mapping named {name!r}")
    return CodeMap.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def available() -> list[str]:
    """Names of every mapping shipped."""
    return sorted(p.stem for p in _HERE.glob("*.yaml"))
