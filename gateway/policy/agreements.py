"""Load data-sharing agreements from YAML files, reporting every problem with file and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.errors import ConfigurationError
from schemas.agreement import Agreement


@dataclass(frozen=True, slots=True)
class AgreementProblem:
    """One problem in one agreement file."""

    file: Path
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.reason}"


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line of every mapping, for error messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping  # type: ignore[return-value]


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def _line_of(document: Any, loc: tuple[int | str, ...]) -> int | None:
    line = document.get("__line__") if isinstance(document, dict) else None
    node = document
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, dict) and "__line__" in node:
            line = node["__line__"]
    return line if isinstance(line, int) else None


def parse_agreement_file(path: Path) -> tuple[Agreement | None, list[AgreementProblem]]:
    """Parse one file; return the agreement or every problem found in it."""
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return None, [
            AgreementProblem(path, line, f"not valid YAML: {getattr(exc, 'problem', exc)}")
        ]
    except OSError as exc:
        return None, [AgreementProblem(path, None, f"cannot read: {exc.strerror}")]
    if not isinstance(document, dict):
        return None, [AgreementProblem(path, 1, "an agreement file holds one mapping")]
    try:
        return Agreement.model_validate(_strip_lines(document)), []
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            loc = tuple(error["loc"])
            where = ".".join(str(p) for p in loc) or "(agreement)"
            problems.append(
                AgreementProblem(path, _line_of(document, loc), f"{where}: {error['msg']}")
            )
        return None, problems


def check_agreements(directory: Path) -> tuple[list[Agreement], list[AgreementProblem]]:
    """Every agreement in ``directory`` (``*.yaml``/``*.yml``) and every problem found."""
    if not directory.is_dir():
        return [], [AgreementProblem(directory, None, "agreements directory does not exist")]
    agreements: list[Agreement] = []
    problems: list[AgreementProblem] = []
    seen: dict[str, Path] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        agreement, found = parse_agreement_file(path)
        problems.extend(found)
        if agreement is None:
            continue
        if agreement.id in seen:
            problems.append(
                AgreementProblem(
                    path, None, f"agreement id {agreement.id!r} also in {seen[agreement.id]}"
                )
            )
            continue
        seen[agreement.id] = path
        agreements.append(agreement)
    return agreements, problems


def load_agreements(directory: Path) -> list[Agreement]:
    """Every agreement in ``directory``; ConfigurationError listing every problem otherwise."""
    agreements, problems = check_agreements(directory)
    if problems:
        raise ConfigurationError("invalid agreements:\n" + "\n".join(str(p) for p in problems))
    return agreements
