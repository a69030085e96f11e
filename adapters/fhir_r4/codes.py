"""Code systems, extension URLs and identifier systems the FHIR adapter reads and writes.

UK Core and HL7 URLs are the published ones. ``https://joined-up.org.uk/...`` names are local:
UK Core has no message event, crisis-event kind, worker role, meeting kind, plan flag, referral
category or status, out-of-hours marker, consent actor or withheld manifest.
"""

from __future__ import annotations

from schemas.facts import AbuseCategory, CrisisKind, MeetingKind, PlanKind, ReferralStatus, RoleKind
from schemas.message import MessageKind
from schemas.provenance import UNDECLARED_ORGANISATION

# Local (Joined-up) definitions
MESSAGE_EVENT_SYSTEM = "https://joined-up.org.uk/CodeSystem/message-event"
CRISIS_KIND_SYSTEM = "https://joined-up.org.uk/CodeSystem/crisis-event-kind"
WORKER_ROLE_SYSTEM = "https://joined-up.org.uk/CodeSystem/worker-role"
OUT_OF_HOURS_EXTENSION = "https://joined-up.org.uk/StructureDefinition/out-of-hours"
WITHHELD_EXTENSION = "https://joined-up.org.uk/StructureDefinition/withheld-manifest"
DISCLOSURE_BASIS_EXTENSION = "https://joined-up.org.uk/StructureDefinition/disclosure-basis"
DISCLOSURE_IDENTIFIER_SYSTEM = "https://joined-up.org.uk/Id/disclosure"
PARTNER_ENDPOINT_PREFIX = "urn:joined-up:partner:"

MEETING_KIND_SYSTEM = "https://joined-up.org.uk/CodeSystem/meeting-kind"
MEETING_REFERENCE_SYSTEM = "https://joined-up.org.uk/Id/meeting-reference"
# A meeting's target date (an initial conference's 15 working days) and whether it is held after it.
MEETING_TARGET_EXTENSION = "https://joined-up.org.uk/StructureDefinition/meeting-target"
PLAN_KIND_SYSTEM = "https://joined-up.org.uk/CodeSystem/plan-kind"
ABUSE_CATEGORY_SYSTEM = "https://joined-up.org.uk/CodeSystem/abuse-category"
REFERRAL_CATEGORY_SYSTEM = "https://joined-up.org.uk/CodeSystem/referral-category"
REFERRAL_CATEGORY = "childrens-social-care"  # a referral to the council's front door
REFERRAL_STATUS_SYSTEM = "https://joined-up.org.uk/CodeSystem/referral-status"
REFERRAL_REFERENCE_SYSTEM = "https://joined-up.org.uk/Id/referral-reference"
REFERRAL_CONSENT_EXTENSION = "https://joined-up.org.uk/StructureDefinition/referral-consent"
CONSENT_GIVEN_BY_EXTENSION = "https://joined-up.org.uk/StructureDefinition/consent-given-by"
ORGANISATION_KIND_SYSTEM = "https://joined-up.org.uk/CodeSystem/organisation-kind"
ELEMENT_CLASS_SYSTEM = "https://joined-up.org.uk/CodeSystem/element-class"
WORKER_LOCAL_ID_SYSTEM = "https://joined-up.org.uk/Id/worker-local-id"
# The provenance of a record update that names no sender (the gateway's sender check decides).
UNDECLARED_SENDER = UNDECLARED_ORGANISATION

# Every canonical kind: the renderer writes the disclosure's kind as the event, whatever it is, and
# the parser reads back what the renderer writes.
MESSAGE_EVENTS: dict[str, MessageKind] = {k.value: k for k in MessageKind}
CRISIS_KINDS: dict[str, CrisisKind] = {k.value: k for k in CrisisKind}
WORKER_ROLES: dict[str, RoleKind] = {k.value: k for k in RoleKind}
MEETING_KINDS: dict[str, MeetingKind] = {k.value: k for k in MeetingKind}
PLAN_KINDS: dict[str, PlanKind] = {k.value: k for k in PlanKind}
ABUSE_CATEGORIES: dict[str, AbuseCategory] = {k.value: k for k in AbuseCategory}
REFERRAL_STATUSES: dict[str, ReferralStatus] = {k.value: k for k in ReferralStatus}

# UK Core
NHS_VERIFICATION_EXTENSION = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)
NHS_VERIFICATION_SYSTEM = (
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
)
# The NHS demographics service (PDS) still sends the older code system URL, without "England".
NHS_VERIFICATION_SYSTEMS = frozenset(
    {
        NHS_VERIFICATION_SYSTEM,
        "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatus",
    }
)

ETHNIC_CATEGORY_EXTENSION = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
)
ETHNIC_CATEGORY_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland"
# Professional registers a Practitioner identifier may name (UK Core identifier systems).
REGISTRATION_SYSTEMS = frozenset(
    {
        "https://fhir.hl7.org.uk/Id/gmc-number",
        "https://fhir.hl7.org.uk/Id/nmc-number",
        "https://fhir.hl7.org.uk/Id/hcpc-number",
        "https://fhir.hl7.org.uk/Id/gphc-number",
    }
)

# HL7
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
V3_PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
SNOMED_CT = "http://snomed.info/sct"
ICD_10_SYSTEMS = frozenset({"http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-uk"})
DS4P_INLINE_LABEL = (
    "http://hl7.org/fhir/uv/security-label-ds4p/StructureDefinition/extension-inline-sec-label"
)

# Encounter.class (v3-ActCode) for a hospital stay: an admission, unless legal status says more.
INPATIENT_CLASSES = frozenset({"IMP", "ACUTE", "NONAC"})
