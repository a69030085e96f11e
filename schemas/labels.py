"""Purposes of use, security labels and lawful bases (DOMAIN.md section 5).

HL7 v3-ActReason has no safeguarding purpose, so local purposes are defined and mapped to the
nearest HL7 code. Lawful bases have no HL7 codes at all: they form a local code system.
"""

from __future__ import annotations

from enum import StrEnum

from schemas.base import CanonicalModel

PURPOSE_SYSTEM = "https://joined-up.org.uk/CodeSystem/purpose"
LAWFUL_BASIS_SYSTEM = "https://joined-up.org.uk/CodeSystem/lawful-basis"
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBLIGATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"


class Purpose(StrEnum):
    """Local purposes of use."""

    SAFEGUARDING_CHILD = "safeguarding-child"
    CHILD_PROTECTION_CONFERENCE = "child-protection-conference"
    CARE_COORDINATION = "care-coordination"
    CRISIS_RESPONSE = "crisis-response"
    REFERRAL = "referral"

    @property
    def hl7_act_reason(self) -> str:
        """The nearest HL7 v3-ActReason code."""
        return _PURPOSE_TO_HL7[self]


_PURPOSE_TO_HL7: dict[Purpose, str] = {
    Purpose.SAFEGUARDING_CHILD: "THREAT",
    Purpose.CHILD_PROTECTION_CONFERENCE: "COC",
    Purpose.CARE_COORDINATION: "COC",
    Purpose.CRISIS_RESPONSE: "ETREAT",
    Purpose.REFERRAL: "COC",
}


class Confidentiality(StrEnum):
    """v3-Confidentiality: normal, restricted, very restricted."""

    N = "N"
    R = "R"
    V = "V"


class Sensitivity(StrEnum):
    """v3-ActCode sensitivity codes the gateway recognises."""

    PSY = "PSY"  # psychiatry
    MH = "MH"  # mental health
    BH = "BH"  # behavioural health
    PSYTHPN = "PSYTHPN"  # psychotherapy notes
    SDV = "SDV"  # sexual and domestic violence
    ETH = "ETH"  # substance abuse
    SUD = "SUD"  # substance use disorder
    VIO = "VIO"  # violence
    LIVARG = "LIVARG"  # living arrangement
    PATLOC = "PATLOC"  # patient location, e.g. a refuge address
    THIRDPARTY = "3RDPARTY"  # identity of a third party


class Obligation(StrEnum):
    """Handling obligations carried with disclosed data."""

    REDACT = "REDACT"
    MASK = "MASK"
    NORDSCLCD = "NORDSCLCD"  # no redisclosure without consent
    DELAU = "DELAU"  # delete after use


class SecurityLabels(CanonicalModel):
    """The labels on one element: confidentiality, sensitivities and obligations."""

    confidentiality: Confidentiality = Confidentiality.N
    sensitivity: frozenset[Sensitivity] = frozenset()
    obligations: frozenset[Obligation] = frozenset()


class ElementLabels(CanonicalModel):
    """Labels on one field of a fact, for content more sensitive than the fact around it.

    DS4P's inline security label in canonical form. A crisis event's location (a refuge, say) or its
    clinical reason must not make the whole event undisclosable, so they are labelled alone. A
    minimiser that cannot drop a single field must apply these labels to the whole fact.
    """

    element: str  # the field's name within its fact, e.g. "location" on a crisis event
    labels: SecurityLabels


class Art6Basis(StrEnum):
    """UK GDPR Article 6(1)."""

    CONSENT = "6(1)(a)"
    LEGAL_OBLIGATION = "6(1)(c)"
    VITAL_INTERESTS = "6(1)(d)"
    PUBLIC_TASK = "6(1)(e)"


class Art9Condition(StrEnum):
    """UK GDPR Article 9(2) conditions for special category (health) data."""

    SOCIAL_PROTECTION = "9(2)(b)"
    SUBSTANTIAL_PUBLIC_INTEREST = "9(2)(g)"
    HEALTH_OR_SOCIAL_CARE = "9(2)(h)"


class Dpa2018Condition(StrEnum):
    """DPA 2018 Schedule 1 conditions."""

    HEALTH_OR_SOCIAL_CARE = "sch1-para2"
    SAFEGUARDING = "sch1-para18"


class AgeBand(StrEnum):
    """Whom a Sch 1 para 18 share protects."""

    CHILD = "child"
    ADULT_AT_RISK = "adult-at-risk"


class NoConsentReason(StrEnum):
    """The three reasons DPA 2018 Sch 1 para 18 accepts for not seeking consent."""

    CANNOT_BE_GIVEN = "cannot-be-given"
    CANNOT_REASONABLY_BE_OBTAINED = "cannot-reasonably-be-obtained"
    WOULD_PREJUDICE_PROTECTION = "would-prejudice-protection"


class LawfulBasis(CanonicalModel):
    """The lawful basis carried on every disclosure."""

    art6: Art6Basis
    art9: Art9Condition | None = None
    dpa2018: Dpa2018Condition | None = None
    statutory_gateway: str | None = None
    age_band: AgeBand | None = None
    no_consent_reason: NoConsentReason | None = None

    @classmethod
    def from_code(cls, code: str) -> LawfulBasis:
        """The basis a short code names (the inverse of ``code``); ValueError if it names none."""
        parts = code.split("+")
        art6s = {f"art{a.value}": a for a in Art6Basis}
        art9s = {f"art{a.value}": a for a in Art9Condition}
        dpas = {d.value: d for d in Dpa2018Condition}
        if parts[0] not in art6s:
            raise ValueError("a lawful basis code starts with a UK GDPR Art 6(1) condition")
        if any(p not in art9s and p not in dpas for p in parts[1:]):
            raise ValueError("unknown part in the lawful basis code")
        art9 = next((art9s[p] for p in parts[1:] if p in art9s), None)
        dpa = next((dpas[p] for p in parts[1:] if p in dpas), None)
        return cls(art6=art6s[parts[0]], art9=art9, dpa2018=dpa)

    @property
    def code(self) -> str:
        """A short code naming the basis, for audit entries and search."""
        parts = [f"art{self.art6.value}"]
        if self.art9 is not None:
            parts.append(f"art{self.art9.value}")
        if self.dpa2018 is not None:
            parts.append(self.dpa2018.value)
        return "+".join(parts)
