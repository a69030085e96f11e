"""What a sender asks for when it shares: a lawful basis, or an urgent override (break-glass).

A flow's agreement names the bases it accepts; a request may name one of them (for example DPA
2018 Sch 1 para 18, to share without consent to protect a child, which must then say whose
protection and why consent was not sought). An urgent override needs a reason code, the reason in
words and a named approver, is permitted only where the flow allows overrides, and is always
flagged for review by an IG officer.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from schemas.base import CanonicalModel
from schemas.labels import LawfulBasis


class OverrideReason(StrEnum):
    """Why a share could not wait for the usual route."""

    IMMINENT_RISK_TO_CHILD = "imminent-risk-to-child"
    IMMINENT_RISK_TO_LIFE = "imminent-risk-to-life"
    PREVENT_SERIOUS_HARM = "prevent-serious-harm"


class Override(CanonicalModel):
    """An urgent override: reason code, the reason in words, and who approved it."""

    reason_code: OverrideReason
    justification: Annotated[str, Field(min_length=10, max_length=2000)]
    approver: Annotated[str, Field(min_length=3, max_length=200)]  # name and role


class Withhold(CanonicalModel):
    """A sender's decision not to share. Under the s16LA duty (Children Act 2004, inserted 2026),
    withholding information relevant to a child's safeguarding needs the judgement that
    disclosure would be more detrimental to the child than not disclosing, and who made it."""

    by: Annotated[str, Field(min_length=3, max_length=200)]  # name and role
    more_detrimental_judgement: Annotated[str, Field(min_length=10, max_length=2000)] | None = None


class SharingRequest(CanonicalModel):
    """The basis a sender relies on, its override, or its decision to withhold, for one message."""

    lawful_basis: LawfulBasis | None = None
    override: Override | None = None
    withhold: Withhold | None = None
