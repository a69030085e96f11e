"""Code systems, extension URLs and identifier systems the FHIR adapter reads and writes.

UK Core and HL7 URLs are the published ones. ``https://joined-up.org.uk/...`` names are local:
UK Core has no message event, crisis-event kind, out-of-hours marker or withheld manifest.
"""

from __future__ import annotations

from schemas.facts import CrisisKind, RoleKind
from schemas.message import MessageKind

# Local (Joined-up) definitions
MESSAGE_EVENT_SYSTEM = "https://joined-up.org.uk/CodeSystem/message-event"
CRISIS_KIND_SYSTEM = "https://joined-up.org.uk/CodeSystem/crisis-event-kind"
WORKER_ROLE_SYSTEM = "https://joined-up.org.uk/CodeSystem/worker-role"
OUT_OF_HOURS_EXTENSION = "https://joined-up.org.uk/StructureDefinition/out-of-hours"
WITHHELD_EXTENSION = "https://joined-up.org.uk/StructureDefinition/withheld-manifest"
DISCLOSURE_BASIS_EXTENSION = "https://joined-up.org.uk/StructureDefinition/disclosure-basis"
DISCLOSURE_IDENTIFIER_SYSTEM = "https://joined-up.org.uk/Id/disclosure"
PARTNER_ENDPOINT_PREFIX = "urn:joined-up:partner:"

MESSAGE_EVENTS: dict[str, MessageKind] = {MessageKind.CRISIS_EVENT.value: MessageKind.CRISIS_EVENT}
CRISIS_KINDS: dict[str, CrisisKind] = {k.value: k for k in CrisisKind}
WORKER_ROLES: dict[str, RoleKind] = {k.value: k for k in RoleKind}

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

# HL7
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SNOMED_CT = "http://snomed.info/sct"
ICD_10_SYSTEMS = frozenset({"http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-uk"})
DS4P_INLINE_LABEL = (
    "http://hl7.org/fhir/uv/security-label-ds4p/StructureDefinition/extension-inline-sec-label"
)

# Encounter.class (v3-ActCode) for a hospital stay: an admission, unless legal status says more.
INPATIENT_CLASSES = frozenset({"IMP", "ACUTE", "NONAC"})
