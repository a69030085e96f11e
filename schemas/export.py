"""Write the JSON Schema of every canonical model to a directory."""

from __future__ import annotations

from pathlib import Path

import orjson
from pydantic import BaseModel

from schemas.agreement import Agreement
from schemas.disclosure import Disclosure
from schemas.facts import FACT_CLASSES
from schemas.message import CanonicalMessage

EXPORTED: tuple[type[BaseModel], ...] = (CanonicalMessage, Disclosure, Agreement, *FACT_CLASSES)


def export_schemas(directory: Path) -> list[Path]:
    """Write ``<Model>.schema.json`` for each exported model; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in EXPORTED:
        path = directory / f"{model.__name__}.schema.json"
        schema = model.model_json_schema(by_alias=True)
        path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        written.append(path)
    return written
