"""What every CSC message shares: the strict base model, field types and the envelope.

Field names follow the DfE CSC API payload (v0.8) and the Standard Safeguarding Dataset (SSD);
fields those have no room for are Joined-up additions, named in each model's docstring. Unknown
fields are refused (``extra="forbid"``), never silently dropped.

The envelope may carry a ``sharing_request`` (a Joined-up addition): the lawful basis the council
relies on, an urgent override, or its decision to withhold. It mirrors the FHIR MessageHeader's
``sharing-request`` extension (``adapters/fhir_r4/request.py``) field for field::

    "sharing_request": {
      "lawful_basis": "art6(1)(e)+art9(2)(g)+sch1-para18",
      "age_band": "child",
      "no_consent_reason": "would-prejudice-protection",
      "override": {"reason": "imminent-risk-to-child", "justification": "...",
                   "approver": "Duty team manager, A. Approver"},
      "withhold": {"by": "Team manager, C. Example", "more_detrimental_judgement": "..."}
    }

Whether the agreement accepts the basis, and whether a Sch 1 para 18 request is complete, is the
policy engine's question (``gateway/policy/conditions.py``): here only the shape and the codes are
checked, and a code is refused naming the element and the rule, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date
from itertools import product
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from schemas.identifiers import LaCodeStr, NhsNumberStr, UpnStr
from schemas.labels import (
    AgeBand,
    Art6Basis,
    Art9Condition,
    Dpa2018Condition,
    LawfulBasis,
    Purpose,
)
from schemas.labels import NoConsentReason as NoConsentReasonCode
from schemas.request import OverrideReason

Text = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(min_length=1, max_length=8000)]
Phone = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9+() -]+$")]
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
RecordId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
MessageId = Annotated[str, Field(min_length=1, max_length=128)]
Code = Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+$")]
OdsCode = Annotated[str, Field(pattern=r"^[A-Z0-9]{3,10}$")]
Sex = Literal["M", "F", "U"]  # DfE CSC API / CIN census 2025-26 ``Sex``


class CscModel(BaseModel):
    """Strict about unknown fields; immutable once read."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, strict=True)


def not_before(field: str) -> Callable[[date | None, ValidationInfo], date | None]:
    """A field validator: the value is not before the model's ``field``."""

    def check(value: date | None, info: ValidationInfo) -> date | None:
        earlier = info.data.get(field)
        if value is not None and isinstance(earlier, date) and value < earlier:
            raise ValueError(f"must not be before {field}")
        return value

    return check


not_before_start = not_before("start_date")


class ChildDetails(CscModel):
    """``child_details``: the child's identity as the council records it (``nhs_number`` is a
    Joined-up addition: the SSD keeps it as ``pers_common_child_id``)."""

    first_name: Text | None = None
    surname: Text | None = None
    date_of_birth: date | None = None
    sex: Sex | None = None
    unique_pupil_number: UpnStr | None = None
    nhs_number: NhsNumberStr | None = None


class Worker(CscModel):
    """A council worker as the SSD knows them (``ssd_professionals``): the id is the DfE payload's
    ``worker_id``; name, team and contacts are Joined-up additions."""

    worker_id: RecordId
    worker_name: Text | None = None
    social_worker_registration_no: Annotated[str, Field(pattern=r"^SW[0-9]{1,8}$")] | None = None
    team: Text | None = None
    phone: Phone | None = None
    email: Email | None = None


# The RoleKind values a council's worker may hold in a CSC message (ssd_involvements roles).
CouncilRole = Literal[
    "allocated-social-worker",
    "team-manager",
    "safeguarding-lead-children",
    "link-worker",
    "iro-or-cp-chair",
    "front-door",
    "out-of-hours",
]


class CouncilWorker(Worker):
    """A council worker in a role for the child."""

    role: CouncilRole


class OutOfHours(CscModel):
    """The council's emergency duty team (a Joined-up addition)."""

    phone: Phone
    email: Email | None = None


# Every lawful basis code the gateway knows, in the one form ``LawfulBasis.code`` writes.
LAWFUL_BASIS_CODES: tuple[str, ...] = tuple(
    LawfulBasis(art6=art6, art9=art9, dpa2018=dpa).code
    for art6, art9, dpa in product(Art6Basis, (None, *Art9Condition), (None, *Dpa2018Condition))
)


def _known_basis(value: str) -> str:
    if value not in LAWFUL_BASIS_CODES:
        raise ValueError(
            "is not a lawful basis code the gateway knows (UK GDPR Art 6(1), then any Art 9(2)"
            " condition and DPA 2018 Sch 1 condition, joined by '+')"
        )
    return value


def _either(codes: Iterable[str]) -> str:
    # Only the metacharacters the codes hold are escaped: ECMA-262 (JSON Schema) refuses ``\-``.
    return "|".join(re.sub(r"([()+.])", r"\\\1", code) for code in codes)


# The same codes as a pattern, for the JSON Schema: Art 6(1), then optionally Art 9(2), then
# optionally a DPA 2018 Sch 1 condition.
_LAWFUL_BASIS_PATTERN = (
    f"^({_either(f'art{a.value}' for a in Art6Basis)})"
    f"(\\+({_either(f'art{c.value}' for c in Art9Condition)}))?"
    f"(\\+({_either(d.value for d in Dpa2018Condition)}))?$"
)
LawfulBasisCode = Annotated[
    str,
    AfterValidator(_known_basis),
    Field(
        json_schema_extra={
            "pattern": _LAWFUL_BASIS_PATTERN,
            "examples": ["art6(1)(e)", "art6(1)(e)+art9(2)(g)+sch1-para18"],
        }
    ),
]


class Override(CscModel):
    """``sharing_request.override``: an urgent override (break-glass), with its reason code, the
    reason in words and who approved it. Permitted only where the flow allows overrides, and
    always flagged for review by an IG officer."""

    reason: OverrideReason
    justification: Annotated[str, Field(min_length=10, max_length=2000)]
    approver: Annotated[str, Field(min_length=3, max_length=200)]  # name and role


class Withhold(CscModel):
    """``sharing_request.withhold``: the council's decision not to share, who made it, and (under
    the Children Act 2004 s16LA duty) the judgement that disclosure would be more detrimental to
    the child than not disclosing."""

    by: Annotated[str, Field(min_length=3, max_length=200)]  # name and role
    more_detrimental_judgement: Annotated[str, Field(min_length=10, max_length=2000)] | None = None


class SharingRequest(CscModel):
    """``sharing_request`` (a Joined-up addition): the lawful basis the council relies on for this
    message (``age_band`` and ``no_consent_reason`` complete a DPA 2018 Sch 1 para 18 basis), an
    urgent override, or its decision to withhold."""

    lawful_basis: LawfulBasisCode | None = None
    age_band: AgeBand | None = None
    no_consent_reason: NoConsentReasonCode | None = None
    override: Override | None = None
    withhold: Withhold | None = None

    @model_validator(mode="after")
    def _asks_for_something(self) -> SharingRequest:
        if self.lawful_basis is None and (
            self.age_band is not None or self.no_consent_reason is not None
        ):
            raise ValueError("age_band and no_consent_reason qualify a lawful_basis: name one")
        if self.lawful_basis is None and self.override is None and self.withhold is None:
            raise ValueError("names no lawful_basis, override or withhold")
        return self


class Envelope(CscModel):
    """The header of every message a council sends: who sent it, when, and about which child, and
    optionally the basis it shares on (``sharing_request``, a Joined-up addition)."""

    message_id: MessageId
    la_code: LaCodeStr
    sent_at: AwareDatetime
    la_child_id: RecordId
    # The purpose of use the council shares for (a Joined-up addition; local codes, each mapped to
    # HL7 v3-ActReason). A message that names none is refused for every recipient (Caldicott 1).
    purpose: Purpose | None = None
    sharing_request: SharingRequest | None = None
