"""What every CSC message shares: the strict base model, field types and the envelope.

Field names follow the DfE CSC API payload (v0.8) and the Standard Safeguarding Dataset (SSD);
fields those have no room for are Joined-up additions, named in each model's docstring. Unknown
fields are refused (``extra="forbid"``), never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo

from schemas.identifiers import LaCodeStr, NhsNumberStr, UpnStr

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

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


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


class Envelope(CscModel):
    """The header of every message a council sends: who sent it, when, and about which child."""

    message_id: MessageId
    la_code: LaCodeStr
    sent_at: AwareDatetime
    la_child_id: RecordId
