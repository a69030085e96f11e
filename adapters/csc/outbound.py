"""What a council's case system receives, by ``message_type``."""

from __future__ import annotations

from pydantic import BaseModel

from adapters.csc.crisis_notice import CrisisNotice

OUTBOUND: dict[str, type[BaseModel]] = {"crisis-notice": CrisisNotice}
