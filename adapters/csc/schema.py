"""The published JSON Schemas of the CSC formats, and the command that writes them.

One schema per message, in and out, named ``csc-<message_type>.schema.json``: what a council
sends (``csc-child-status``, ``csc-child-record``, the SSD events) and what it receives
(``csc-crisis-notice``, the other ``-notice`` documents and ``csc-disclosure-summary``), so that
a meeting invitation has one schema each way. ``python -m adapters.csc [DIRECTORY]`` (default
``docs/schemas``) rewrites the committed files; a test fails when they differ from what the models
generate.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from pydantic import BaseModel

from adapters.csc.crisis_notice import CrisisNotice
from adapters.csc.inbound import INBOUND
from adapters.csc.outbound import OUTBOUND

_BASE = "https://joined-up.org.uk/schemas"
SCHEMAS: dict[str, type[BaseModel]] = {
    **{f"csc-{name}": model for name, model in INBOUND.items()},
    **{f"csc-{name}": model for name, model in OUTBOUND.items()},
}
SCHEMA_FILES: dict[str, type[BaseModel]] = {
    f"{name}.schema.json": model for name, model in SCHEMAS.items()
}


def _schema(model: type[BaseModel], filename: str) -> dict[str, object]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_BASE}/{filename}",
        **model.model_json_schema(by_alias=True),
    }


def csc_schemas() -> dict[str, dict[str, object]]:
    """Every CSC message's JSON Schema by name (``csc-child-record``, ``csc-crisis-notice``...)."""
    return {name: _schema(model, f"{name}.schema.json") for name, model in SCHEMAS.items()}


def crisis_notice_schema() -> dict[str, object]:
    """The JSON Schema of the crisis notice the CSC adapter renders."""
    return _schema(CrisisNotice, "csc-crisis-notice.schema.json")


def child_status_schema() -> dict[str, object]:
    """The JSON Schema of the child-status message the CSC adapter parses."""
    return _schema(INBOUND["child-status"], "csc-child-status.schema.json")


def schema_bytes(filename: str) -> bytes:
    """A schema file's exact committed content: sorted keys, two-space indent, final newline."""
    schema = _schema(SCHEMA_FILES[filename], filename)
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def write_schemas(directory: Path) -> list[Path]:
    """Write every CSC schema file into ``directory``; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename in SCHEMA_FILES:
        path = directory / filename
        path.write_bytes(schema_bytes(filename))
        written.append(path)
    return written
