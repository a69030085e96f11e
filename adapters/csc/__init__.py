"""Children's social care JSON: a council's side of the gateway."""

from __future__ import annotations

from adapters.csc.adapter import CscAdapter
from adapters.csc.schema import child_status_schema, crisis_notice_schema, csc_schemas

__all__ = ["CscAdapter", "child_status_schema", "crisis_notice_schema", "csc_schemas"]
