"""Ledger entries as a FHIR R4 Bundle of AuditEvent resources, following IHE BALP.

IHE Basic Audit Log Patterns (BALP, https://profiles.ihe.net/ITI/BALP/) profiles used:

- a permitted share (``disclosure.decided``, outcome permit) is a **Privacy Disclosure** recorded
  at the source (``IHE.BasicAudit.PrivacyDisclosure.Source``): the sending organisation is the
  source agent and the audit source's observer (the gateway discloses on its behalf, and is named
  in ``source.site`` and as a third agent), the receiving organisation the recipient agent, the
  purpose of use as its HL7 v3-ActReason code;
- every decision (``disclosure.decided`` and ``lookup.decided``, permit or refuse) is an
  **authorisation decision** (``IHE.BasicAudit.AuthZconsent``): the gateway is the authoriser and
  the audit source; the agreement, its version, the flow, the lawful basis, the purpose, any
  override and its approver are details of a ``Consent``-typed entity naming the agreement; a
  consent directive in force is a second ``Consent`` entity.

The request id is an entity of type ``XrequestId`` (BALP's BasicAuditEntityType) wherever the
profile's entity slicing is open. AuthZconsent closes its entity slicing (patient, consent, token
only), so there the request id is an extension (``REQUEST_ID_EXTENSION``) and the two events of
one share carry the same request id. Every resource names its ledger entry (the extension
``LEDGER_ENTRY_EXTENSION``, and its id ``ledger-<seq>-<kind>``).

People are Patient entities identified only by the index's surrogate person id
(``https://joined-up.org.uk/Id/person``), never by an NHS number: the entries hold no other
identifier, and no record content, and neither does the export. Free text in entries (a
decision's explanation, a sender's s16LA judgement, a review comment) is not exported; codes are.

Other entries: ``exchange.received`` is an Import (DICOM 110107), ``delivery.attempted`` a
transmission (DICOM 110106 with ISO 21089 ``transmit``), ``record.viewed`` a Patient Record read
(DICOM 110110), ``override.reviewed`` an attestation (DICOM 110100 with ISO 21089 ``attest``),
``access.refused`` a Security Alert or a failed Login (DICOM 110113 / 110114). Not exported
(``NOT_EXPORTED``): ``exchange.no-recipient``, ``index.updated``, ``import.completed``,
``ledger.verified``, ``exchange.refused``, ``directory.loaded`` and ``referral.escalated``, which
name no disclosure (they are in the CSV export and the archives; an escalation's notices are
``disclosure.decided`` entries and are exported).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from schemas.identifiers import DFE_LA_CODE_SYSTEM, ODS_CODE_SYSTEM
from schemas.labels import PURPOSE_SYSTEM, Purpose

PERSON_SYSTEM = "https://joined-up.org.uk/Id/person"
PARTNER_SYSTEM = "https://joined-up.org.uk/Id/partner"
GATEWAY_SYSTEM = "https://joined-up.org.uk/Id/gateway"
AGREEMENT_SYSTEM = "https://joined-up.org.uk/Id/agreement"
CONSENT_SYSTEM = "https://joined-up.org.uk/Id/consent-directive"
DISCLOSURE_SYSTEM = "https://joined-up.org.uk/Id/disclosure"
EXCHANGE_SYSTEM = "https://joined-up.org.uk/Id/exchange"
ACCOUNT_SYSTEM = "https://joined-up.org.uk/Id/account"
LEDGER_SEQ_SYSTEM = "https://joined-up.org.uk/Id/ledger-seq"
LEDGER_ENTRY_EXTENSION = "https://joined-up.org.uk/StructureDefinition/audit-ledger-entry"
REQUEST_ID_EXTENSION = "https://joined-up.org.uk/StructureDefinition/audit-request-id"
ALSO_CONCERNS_EXTENSION = "https://joined-up.org.uk/StructureDefinition/audit-also-concerns"
DETAIL_SYSTEM = "https://joined-up.org.uk/CodeSystem/audit-detail"

BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
PROFILE_DISCLOSURE_SOURCE = BALP + "PrivacyDisclosure.Source"
PROFILE_AUTHZ_CONSENT = BALP + "AuthZconsent"
BALP_ENTITY_TYPE = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
BALP_AUTHZ_SUBTYPE = "https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType"

DCM = "http://dicom.nema.org/resources/ontology/DCM"
LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
NETWORK_TYPE_URI = "5"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ROLE_CLASS = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
SECURITY_ROLE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"

SUCCESS, MINOR_FAILURE, SERIOUS_FAILURE = "0", "4", "8"

NOT_EXPORTED = frozenset(
    {
        "exchange.no-recipient",
        "index.updated",
        "import.completed",
        "ledger.verified",
        "exchange.refused",
        "directory.loaded",
        "referral.escalated",
    }
)

Resource = dict[str, Any]


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display is not None:
        coding["display"] = display
    return coding


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [_coding(system, code, display)]}


def organisation(code: str) -> dict[str, Any]:
    """A reference to an organisation by its code: a DfE LA code (three digits) or an ODS code."""
    system = DFE_LA_CODE_SYSTEM if code.isdigit() and len(code) == 3 else ODS_CODE_SYSTEM
    return {"identifier": {"system": system, "value": code}, "type": "Organization"}


def _partner(partner: str) -> dict[str, Any]:
    return {"identifier": {"system": PARTNER_SYSTEM, "value": partner}, "type": "Device"}


def _partner_network(partner: str | None) -> dict[str, str]:
    # The partner's system, named as a URI: the entries record no network address.
    return {"address": f"urn:joined-up:partner:{partner or 'unknown'}", "type": NETWORK_TYPE_URI}


def patient(person_id: str) -> dict[str, Any]:
    """A reference to a person by the index's surrogate id: never an NHS number."""
    return {"identifier": {"system": PERSON_SYSTEM, "value": person_id}, "type": "Patient"}


def _detail(kind: str, value: object) -> dict[str, str]:
    return {"type": kind, "valueString": str(value)}


class _Context:
    """What other entries tell about an entry: the sender of an exchange, the subject of its
    message, and the people a disclosure was about."""

    def __init__(self, entries: Iterable[Mapping[str, Any]]) -> None:
        self.senders: dict[str, str] = {}
        self.subjects: dict[str, tuple[str, ...]] = {}
        self.disclosures: dict[str, Mapping[str, Any]] = {}
        for entry in entries:
            event, exchange_id = entry.get("event"), entry.get("exchange_id")
            if event == "exchange.received" and exchange_id:
                self.senders[exchange_id] = entry["sender_organisation"]
                self.subjects[exchange_id] = tuple(entry.get("person_ids") or ())
            elif event == "disclosure.decided" and entry.get("disclosure_id"):
                self.disclosures[entry["disclosure_id"]] = entry

    def sender(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        code = self.senders.get(entry.get("exchange_id") or "")
        return organisation(code) if code else _partner(entry.get("partner") or "unknown")

    def people(self, entry: Mapping[str, Any]) -> tuple[str | None, list[str]]:
        """The subject (the person the message is about) and the others the entry names."""
        named = list(entry.get("person_ids") or ())
        subjects = self.subjects.get(entry.get("exchange_id") or "", ())
        subject = next((p for p in named if p in subjects), named[0] if named else None)
        return subject, [p for p in named if p != subject]


class _Builder:
    def __init__(self, gateway_name: str, context: _Context) -> None:
        self.gateway_name = gateway_name
        self.gateway: dict[str, Any] = {
            "identifier": {"system": GATEWAY_SYSTEM, "value": gateway_name},
            "type": "Device",
            "display": gateway_name,
        }
        self.context = context

    # --- parts every resource has ---------------------------------------------------------

    def _base(
        self,
        entry: Mapping[str, Any],
        suffix: str,
        *,
        type_: dict[str, str],
        subtype: list[dict[str, str]],
        action: str,
        outcome: str,
        observer: dict[str, Any] | None = None,
        source_type: tuple[str, str] = ("4", "Application Server"),
        profile: str | None = None,
    ) -> Resource:
        seq = entry["seq"]
        resource: Resource = {"resourceType": "AuditEvent", "id": f"ledger-{seq}-{suffix}"}
        if profile is not None:
            resource["meta"] = {"profile": [profile]}
        resource["extension"] = [
            {
                "url": LEDGER_ENTRY_EXTENSION,
                "valueIdentifier": {"system": LEDGER_SEQ_SYSTEM, "value": str(seq)},
            }
        ]
        resource.update(
            type=type_,
            subtype=subtype,
            action=action,
            recorded=entry["at"],
            outcome=outcome,
            source={
                "site": self.gateway_name,
                "observer": observer if observer is not None else self.gateway,
                "type": [_coding(SOURCE_TYPE, *source_type)],
            },
        )
        return resource

    def _request_entity(self, entry: Mapping[str, Any]) -> list[dict[str, Any]]:
        request_id = entry.get("request_id")
        if not request_id:
            return []
        return [
            {
                "what": {"identifier": {"value": request_id}},
                "type": _coding(BALP_ENTITY_TYPE, "XrequestId"),
            }
        ]

    def _patients(self, entry: Mapping[str, Any], people: Sequence[str] | None = None) -> Any:
        """The subject as the one BALP patient entity, the others as further Patient entities."""
        if people is not None:
            subject, others = (people[0], list(people[1:])) if people else (None, [])
        else:
            subject, others = self.context.people(entry)
        entities: list[dict[str, Any]] = []
        if subject is not None:
            entities.append(
                {
                    "what": patient(subject),
                    "type": _coding(ENTITY_TYPE, "1", "Person"),
                    "role": _coding(OBJECT_ROLE, "1", "Patient"),
                }
            )
        # Others named (a child the share is for, alongside its subject) are typed by resource
        # type, so they do not fill the profiles' single patient slice.
        entities.extend(
            {
                "what": patient(other),
                "type": _coding(RESOURCE_TYPES, "Patient", "Patient"),
                "role": _coding(OBJECT_ROLE, "1", "Patient"),
            }
            for other in others
        )
        return entities

    @staticmethod
    def _purpose(purpose: str | None) -> list[dict[str, Any]]:
        if not purpose:
            return []
        codings = []
        if purpose in Purpose.__members__.values():
            codings.append(_coding(ACT_REASON, Purpose(purpose).hl7_act_reason))
        codings.append(_coding(PURPOSE_SYSTEM, purpose))
        return [{"coding": codings}]

    # --- decisions ------------------------------------------------------------------------

    def disclosure(self, entry: Mapping[str, Any]) -> Resource:
        """A permitted share: BALP Privacy Disclosure at the source."""
        sender = self.context.sender(entry)
        recipient = organisation(entry["recipient_organisation"])
        resource = self._base(
            entry,
            "disclosure",
            type_=_coding(DCM, "110106", "Export"),
            subtype=[_coding(LIFECYCLE, "disclose", "Disclose Record Lifecycle Event")],
            action="R",
            outcome=SUCCESS,
            observer=sender,
            profile=PROFILE_DISCLOSURE_SOURCE,
        )
        resource["outcomeDesc"] = f"shared: {entry['reason_code']}"
        if purpose := self._purpose(entry.get("purpose")):
            resource["purposeOfEvent"] = purpose
        resource["agent"] = [
            {
                "type": _concept(DCM, "110153", "Source Role ID"),
                "who": sender,
                "requestor": True,
                "network": _partner_network(entry.get("partner")),
            },
            {
                "type": _concept(DCM, "110152", "Destination Role ID"),
                "who": recipient,
                "requestor": False,
                "network": _partner_network(entry.get("recipient_partner")),
            },
            {
                "type": _concept(DCM, "110150", "Application"),
                "who": self.gateway,
                "requestor": False,
            },
        ]
        data: dict[str, Any] = {
            "what": {"identifier": {"system": DISCLOSURE_SYSTEM, "value": entry["disclosure_id"]}},
            "type": _coding(ENTITY_TYPE, "2", "System Object"),
            "role": _coding(OBJECT_ROLE, "3", "Report"),
            "detail": [
                _detail("kind", entry["kind"]),
                *(_detail("disclosed", e) for e in entry.get("disclosed") or ()),
                *(
                    _detail("withheld", f"{w['element']}:{w['reason_code']}")
                    for w in entry.get("withheld") or ()
                ),
                *(
                    [_detail("body-sha256", entry["body_sha256"])]
                    if entry.get("body_sha256")
                    else []
                ),
            ],
        }
        resource["entity"] = [*self._patients(entry), data, *self._request_entity(entry)]
        return resource

    def authorisation(self, entry: Mapping[str, Any]) -> Resource:
        """A decision (share or look-up, permit or refuse): BALP AuthZconsent."""
        lookup = entry["event"] == "lookup.decided"
        outcome = {"permit": SUCCESS, "refuse": SERIOUS_FAILURE}.get(
            entry["outcome"], MINOR_FAILURE
        )
        resource = self._base(
            entry,
            "authz",
            type_=_coding(DCM, "110113", "Security Alert"),
            subtype=[
                _coding(
                    BALP_AUTHZ_SUBTYPE,
                    "AuthZ-Consent",
                    "Authorization Decision using Roles and Consent",
                )
            ],
            action="E",
            outcome=outcome,
            source_type=("6", "Security Server"),
            profile=PROFILE_AUTHZ_CONSENT,
        )
        subject, others = self.context.people(entry)
        if entry.get("request_id"):
            resource["extension"].append(
                {"url": REQUEST_ID_EXTENSION, "valueIdentifier": {"value": entry["request_id"]}}
            )
        resource["extension"].extend(
            {"url": ALSO_CONCERNS_EXTENSION, "valueReference": patient(other)} for other in others
        )
        resource["outcomeDesc"] = f"{entry['outcome']}: {entry['reason_code']}"
        purpose = self._purpose(entry.get("purpose"))
        if purpose:
            resource["purposeOfEvent"] = purpose
        partner = entry.get("partner")
        if lookup:
            # The asking partner is the information recipient of a look-up.
            receiver = _partner(partner or "unknown")
        else:
            receiver = organisation(entry["recipient_organisation"])
        user: dict[str, Any] = {
            "type": _concept(PARTICIPATION, "IRCP", "information recipient"),
            "who": receiver,
            "requestor": True,
        }
        if purpose:
            user["purposeOfUse"] = purpose
        resource["agent"] = [
            {
                "type": _concept(DCM, "110150", "Application"),
                "who": _partner(partner or "unknown"),
                "requestor": False,
                "network": _partner_network(partner),
            },
            user,
            {
                "type": _concept(ROLE_CLASS, "PROV", "healthcare provider"),
                "who": receiver,
                "requestor": False,
            },
            {
                "type": _concept(SECURITY_ROLE, "authserver", "authorization server"),
                "who": self.gateway,
                "requestor": False,
            },
        ]
        entities = self._patients(entry, [p for p in (subject,) if p is not None])
        if not entities:
            # A look-up for someone the index does not know: BALP still wants the patient.
            entities.append(
                {
                    "what": {"type": "Patient", "display": "no person identified"},
                    "type": _coding(ENTITY_TYPE, "1", "Person"),
                    "role": _coding(OBJECT_ROLE, "1", "Patient"),
                }
            )
        entities.append(self._agreement_entity(entry, lookup))
        if entry.get("consent_ref"):
            entities.append(
                {
                    "what": {
                        "identifier": {"system": CONSENT_SYSTEM, "value": entry["consent_ref"]},
                        "type": "Consent",
                    },
                    "type": _coding(RESOURCE_TYPES, "Consent", "Consent"),
                    "description": "the consent directive in force",
                }
            )
        resource["entity"] = entities
        return resource

    @staticmethod
    def _agreement_entity(entry: Mapping[str, Any], lookup: bool) -> dict[str, Any]:
        agreement, version = entry.get("agreement_id"), entry.get("agreement_version")
        if agreement:
            what: dict[str, Any] = {
                "identifier": {"system": AGREEMENT_SYSTEM, "value": agreement},
                "display": f"data-sharing agreement {agreement} version {version}",
            }
        else:
            what = {"display": "no data-sharing agreement covers this flow"}
        details = [
            _detail("outcome", entry["outcome"]),
            _detail("reason-code", entry["reason_code"]),
        ]
        optional = (
            ("agreement-version", version),
            ("flow", entry.get("flow_id")),
            ("purpose", entry.get("purpose")),
            ("lawful-basis", entry.get("lawful_basis")),
            ("kind", entry.get("kind")),
            ("role", entry.get("role") if lookup else None),
            ("recipient-partner", entry.get("recipient_partner")),
            ("override-reason", entry.get("override_reason")),
            ("override-approver", entry.get("override_approver")),
        )
        details.extend(_detail(name, value) for name, value in optional if value is not None)
        if entry.get("flagged_for_review"):
            details.append(_detail("flagged-for-review", "true"))
        if entry.get("s16la_judgement"):
            details.append(_detail("s16la-judgement-recorded", "true"))
        details.extend(_detail("disclosed", e) for e in entry.get("disclosed") or ())
        details.extend(
            _detail("withheld", f"{w['element']}:{w['reason_code']}")
            for w in entry.get("withheld") or ()
        )
        return {
            "what": what,
            "type": _coding(RESOURCE_TYPES, "Consent", "Consent"),
            "description": "the data-sharing agreement and lawful basis the decision applied",
            "detail": details,
        }

    # --- other entries --------------------------------------------------------------------

    def received(self, entry: Mapping[str, Any]) -> Resource:
        """A partner message accepted: an Import at the gateway."""
        sender = organisation(entry["sender_organisation"])
        resource = self._base(
            entry,
            "received",
            type_=_coding(DCM, "110107", "Import"),
            subtype=[_coding(LIFECYCLE, "receive", "Receive Record Lifecycle Event")],
            action="C",
            outcome=SUCCESS,
        )
        resource["agent"] = [
            {
                "type": _concept(DCM, "110153", "Source Role ID"),
                "who": sender,
                "requestor": True,
                "network": _partner_network(entry.get("partner")),
            },
            {
                "type": _concept(DCM, "110152", "Destination Role ID"),
                "who": self.gateway,
                "requestor": False,
            },
        ]
        message = {
            "what": {"identifier": {"system": EXCHANGE_SYSTEM, "value": entry["exchange_id"]}},
            "type": _coding(ENTITY_TYPE, "2", "System Object"),
            "role": _coding(OBJECT_ROLE, "4", "Domain Resource"),
            "detail": [
                _detail("kind", entry["kind"]),
                _detail("body-sha256", entry["body_sha256"]),
                _detail("unmapped-elements", len(entry.get("unmapped") or ())),
            ],
        }
        resource["entity"] = [*self._patients(entry), message, *self._request_entity(entry)]
        return resource

    def delivery(self, entry: Mapping[str, Any]) -> Resource:
        """One delivery attempt: a transmission from the gateway to the recipient's endpoint."""
        outcome = {"delivered": SUCCESS, "retry": MINOR_FAILURE}.get(
            entry["outcome"], SERIOUS_FAILURE
        )
        resource = self._base(
            entry,
            "delivery",
            type_=_coding(DCM, "110106", "Export"),
            subtype=[_coding(LIFECYCLE, "transmit", "Transmit Record Lifecycle Event")],
            action="E",
            outcome=outcome,
        )
        status = entry.get("status_code")
        description = f"attempt {entry['attempt']}: {entry['outcome']}"
        if status is not None:
            description += f" (HTTP {status})"
        elif entry.get("error"):
            description += f" ({entry['error']})"
        resource["outcomeDesc"] = description
        resource["agent"] = [
            {
                "type": _concept(DCM, "110153", "Source Role ID"),
                "who": self.gateway,
                "requestor": True,
            },
            {
                "type": _concept(DCM, "110152", "Destination Role ID"),
                "who": _partner(entry.get("partner") or "unknown"),
                "requestor": False,
                "network": _partner_network(entry.get("partner")),
            },
        ]
        decision = self.context.disclosures.get(entry["disclosure_id"])
        people: list[str] = []
        if decision is not None:
            subject, others = self.context.people(decision)
            people = [p for p in (subject, *others) if p is not None]
        data = {
            "what": {"identifier": {"system": DISCLOSURE_SYSTEM, "value": entry["disclosure_id"]}},
            "type": _coding(ENTITY_TYPE, "2", "System Object"),
            "role": _coding(OBJECT_ROLE, "3", "Report"),
            "detail": [_detail("attempt", entry["attempt"]), _detail("outcome", entry["outcome"])],
        }
        resource["entity"] = [
            *self._patients(entry, people),
            data,
            *self._request_entity(entry),
        ]
        return resource

    def _staff(self, account: str | None, role: str | None) -> dict[str, Any]:
        agent: dict[str, Any] = {
            "type": _concept(PARTICIPATION, "IRCP", "information recipient"),
            "who": (
                {"identifier": {"system": ACCOUNT_SYSTEM, "value": account}}
                if account
                else {"display": "not signed in"}
            ),
            "requestor": True,
        }
        if role:
            agent["role"] = [{"text": role}]
        return agent

    def viewed(self, entry: Mapping[str, Any]) -> Resource:
        """Audit detail about people viewed or exported: a Patient Record read."""
        resource = self._base(
            entry,
            "viewed",
            type_=_coding(DCM, "110110", "Patient Record"),
            subtype=[_coding(LIFECYCLE, "access", "Access/View Record Lifecycle Event")],
            action="R",
            outcome=SUCCESS,
        )
        resource["outcomeDesc"] = f"view: {entry['view']}"
        resource["agent"] = [
            self._staff(entry["viewer"], entry.get("role")),
            {
                "type": _concept(DCM, "110150", "Application"),
                "who": self.gateway,
                "requestor": False,
            },
        ]
        shown = {
            "what": {"display": "ledger entries"},
            "type": _coding(ENTITY_TYPE, "2", "System Object"),
            "role": _coding(OBJECT_ROLE, "3", "Report"),
            "detail": [
                _detail("view", entry["view"]),
                *(_detail("seq", s) for s in entry.get("seqs") or ()),
            ],
        }
        people = list(entry.get("person_ids") or ())
        resource["entity"] = [
            *self._patients(entry, people),
            shown,
            *self._request_entity(entry),
        ]
        return resource

    def reviewed(self, entry: Mapping[str, Any]) -> Resource:
        """An IG officer's review of a flagged decision (the comment is not exported)."""
        resource = self._base(
            entry,
            "review",
            type_=_coding(DCM, "110100", "Application Activity"),
            subtype=[_coding(LIFECYCLE, "attest", "Attest Record Lifecycle Event")],
            action="U",
            outcome=SUCCESS,
        )
        resource["outcomeDesc"] = f"reviewed decision at ledger entry {entry['reviewed_seq']}"
        resource["agent"] = [self._staff(entry["reviewer"], entry.get("role"))]
        resource["entity"] = [
            {
                "what": {
                    "identifier": {
                        "system": LEDGER_SEQ_SYSTEM,
                        "value": str(entry["reviewed_seq"]),
                    },
                    "display": "the reviewed decision",
                },
                "type": _coding(ENTITY_TYPE, "2", "System Object"),
                "role": _coding(OBJECT_ROLE, "3", "Report"),
            },
            *self._request_entity(entry),
        ]
        return resource

    def refused(self, entry: Mapping[str, Any]) -> Resource:
        """A refused page or admin request: a failed login, or a security alert."""
        login = entry["reason"] == "bad-credentials"
        resource = self._base(
            entry,
            "refused",
            type_=(
                _coding(DCM, "110114", "User Authentication")
                if login
                else _coding(DCM, "110113", "Security Alert")
            ),
            subtype=[
                _coding(DCM, "110122", "Login")
                if login
                else _coding(DCM, "110132", "Use of Restricted Function")
            ],
            action="E",
            outcome=MINOR_FAILURE,
        )
        resource["outcomeDesc"] = f"refused: {entry['reason']}"
        resource["agent"] = [self._staff(entry.get("user"), None)]
        resource["entity"] = [
            {
                "what": {"display": "route"},
                "type": _coding(ENTITY_TYPE, "2", "System Object"),
                "detail": [_detail("route", entry["route"])],
            },
            *self._request_entity(entry),
        ]
        return resource


def resources_for(entry: Mapping[str, Any], builder: _Builder) -> list[tuple[str, Resource]]:
    """The resources one entry becomes, each with a short kind for its id."""
    event = entry.get("event")
    if event == "disclosure.decided":
        out = [("authz", builder.authorisation(entry))]
        if entry.get("outcome") == "permit" and entry.get("disclosure_id"):
            out.insert(0, ("disclosure", builder.disclosure(entry)))
        return out
    handlers = {
        "lookup.decided": ("authz", builder.authorisation),
        "exchange.received": ("received", builder.received),
        "delivery.attempted": ("delivery", builder.delivery),
        "record.viewed": ("viewed", builder.viewed),
        "override.reviewed": ("review", builder.reviewed),
        "access.refused": ("refused", builder.refused),
    }
    handler = handlers.get(event or "")
    return [] if handler is None else [(handler[0], handler[1](entry))]


def audit_bundle(
    entries: Sequence[Mapping[str, Any]],
    *,
    gateway_name: str = "joined-up.local/ledger",
    context: Sequence[Mapping[str, Any]] = (),
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """A FHIR R4 ``collection`` Bundle of BALP AuditEvents for ``entries`` (parsed ledger entries,
    each with its ``seq``), in the order given.

    ``context`` holds further entries used only to describe these (the ``exchange.received`` of a
    decision names its sending organisation and the message's subject; a decision names the people
    a delivery was about); they are not exported themselves. ``gateway_name`` names this gateway
    (the ledger's origin) as the audit source.
    """
    ctx = _Context([*context, *entries])
    builder = _Builder(gateway_name, ctx)
    bundle_entries = []
    for entry in entries:
        for kind, resource in resources_for(entry, builder):
            full_url = uuid.uuid5(uuid.NAMESPACE_URL, f"{gateway_name}#{entry['seq']}/{kind}")
            bundle_entries.append({"fullUrl": f"urn:uuid:{full_url}", "resource": resource})
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": (timestamp or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "entry": bundle_entries,
    }
