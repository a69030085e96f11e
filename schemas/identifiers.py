"""Typed person and organisation identifiers, each validated against its published rule.

* NHS number: 10 digits, modulus-11 check digit (weights 10..2 over the first nine digits).
* LA child id: local to one council, so it is namespaced by the DfE three-digit LA code.
* UPN (unique pupil number): a letter, eleven digits, then a digit or a letter.
* ODS code: an NHS organisation code; DfE LA codes identify councils.
* Social Work England registration: no UK Core system exists, so a local one is defined.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from schemas.base import CanonicalModel

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_CODE_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
LA_CHILD_ID_SYSTEM = "https://joined-up.org.uk/Id/la-child-id"
UPN_SYSTEM = "https://joined-up.org.uk/Id/upn"
DFE_LA_CODE_SYSTEM = "https://joined-up.org.uk/Id/dfe-la-code"
SWE_REGISTRATION_SYSTEM = "https://joined-up.org.uk/Id/social-work-england-registration"

_UPN = re.compile(r"^[A-Za-z]\d{11}[A-Za-z\d]$")
_LA_CODE = re.compile(r"^\d{3}$")
_ODS = re.compile(r"^[A-Z0-9]{3,10}$")


def nhs_number_check_digit(first_nine: str) -> int | None:
    """The modulus-11 check digit for nine digits, or None where the number cannot be valid."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def validate_nhs_number(value: str) -> str:
    """Return the NHS number without spaces, or raise ValueError naming the rule it breaks."""
    digits = value.replace(" ", "")
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        raise ValueError("an NHS number is exactly 10 digits")
    if nhs_number_check_digit(digits[:9]) != int(digits[9]):
        raise ValueError("the NHS number's check digit is wrong")
    return digits


def _validate_upn(value: str) -> str:
    if not _UPN.match(value):
        raise ValueError("a UPN is a letter, eleven digits, then a digit or a letter")
    return value.upper()


def _validate_la_code(value: str) -> str:
    if not _LA_CODE.match(value):
        raise ValueError("a DfE LA code is three digits")
    return value


def _validate_ods(value: str) -> str:
    if not _ODS.match(value.upper()):
        raise ValueError("an ODS code is 3 to 10 letters and digits")
    return value.upper()


NhsNumberStr = Annotated[str, AfterValidator(validate_nhs_number)]
UpnStr = Annotated[str, AfterValidator(_validate_upn)]
LaCodeStr = Annotated[str, AfterValidator(_validate_la_code)]
OdsCodeStr = Annotated[str, AfterValidator(_validate_ods)]


class NhsNumberVerification(StrEnum):
    """UKCore-NHSNumberVerificationStatusEngland codes 01-08."""

    VERIFIED = "01"
    PRESENT_NOT_TRACED = "02"
    TRACE_REQUIRED = "03"
    TRACE_ATTEMPTED_NO_MATCH = "04"
    TRACE_NEEDS_RESOLUTION = "05"
    TRACE_IN_PROGRESS = "06"
    NOT_PRESENT_NO_TRACE = "07"
    TRACE_POSTPONED = "08"


class NhsNumber(CanonicalModel):
    """An NHS number, check digit verified."""

    type: Literal["nhs-number"] = "nhs-number"
    value: NhsNumberStr
    verification: NhsNumberVerification | None = None

    @property
    def key(self) -> str:
        return f"nhs:{self.value}"


class LaChildId(CanonicalModel):
    """A council's own child id, meaningful only together with the council's DfE LA code."""

    type: Literal["la-child-id"] = "la-child-id"
    la_code: LaCodeStr
    value: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]

    @property
    def key(self) -> str:
        return f"la:{self.la_code}:{self.value}"


class Upn(CanonicalModel):
    """A unique pupil number (or a former one)."""

    type: Literal["upn"] = "upn"
    value: UpnStr
    former: bool = False

    @property
    def key(self) -> str:
        return f"upn:{self.value}"


PersonIdentifier = Annotated[NhsNumber | LaChildId | Upn, Field(discriminator="type")]


def identifier_key(identifier: PersonIdentifier) -> str:
    """A stable string for one identifier, used as the index key (never logged)."""
    return identifier.key


class SweRegistration(CanonicalModel):
    """A Social Work England registration number (local system: UK Core defines none)."""

    value: Annotated[str, Field(pattern=r"^SW\d{1,8}$")]


def identifier_from_token(system: str, value: str) -> PersonIdentifier:
    """A typed identifier from a FHIR-style ``system|value`` pair; ValueError if unknown/invalid.

    LA child ids travel as ``<LA code>/<child id>`` under :data:`LA_CHILD_ID_SYSTEM`.
    """
    if system == NHS_NUMBER_SYSTEM:
        return NhsNumber(value=value)
    if system == LA_CHILD_ID_SYSTEM:
        la_code, sep, child_id = value.partition("/")
        if not sep:
            raise ValueError("an LA child id is written <LA code>/<child id>")
        return LaChildId(la_code=la_code, value=child_id)
    if system == UPN_SYSTEM:
        return Upn(value=value)
    raise ValueError("unknown identifier system")
