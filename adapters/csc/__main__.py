"""``python -m adapters.csc [DIRECTORY]``: write the CSC JSON Schemas (default ``docs/schemas``)."""

from __future__ import annotations

import sys
from pathlib import Path

from adapters.csc.schema import write_schemas

for written in write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")):
    sys.stdout.write(f"{written}\n")
