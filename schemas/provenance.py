"""Where a fact came from."""

from __future__ import annotations

from datetime import datetime

from schemas.base import CanonicalModel

# The organisation of a message that names no sender (a FHIR collection or a single resource):
# the gateway attributes it to the authenticated partner's organisation, where that is unambiguous.
UNDECLARED_ORGANISATION = "(undeclared)"


class Provenance(CanonicalModel):
    """The organisation and system that asserted a fact, when, and in which source message."""

    organisation: str  # ODS code or DfE LA code of the sender
    system: str  # partner id as configured in the gateway
    source_format: str  # adapter name, e.g. "fhir-r4"
    source_message_id: str
    received_at: datetime
