"""A disclosure as a CSC notice or summary, working only from the disclosure.

The document is chosen by ``disclosure.kind``. Every fact is rendered as a part; the parts are then
read back (``parts.from_parts``) and compared with the disclosure: each field that did not come back
equal is a :class:`~adapters.base.Loss` (``<fact>.<field>``, or ``<fact>`` when the document has no
place for the fact at all). Unlike the crisis notice, these documents also render the addressing
facts (the recipient's own worker), since a meeting or referral may name them.
"""

from __future__ import annotations

from adapters.base import Loss
from adapters.csc.crisis_notice import AgreementRef, LawfulBasis, Recipient, Withheld
from adapters.csc.outbound import (
    DisclosureSummary,
    Document,
    MeetingInvitationNotice,
    Origin,
    ReferralNotice,
    WorkerContactNotice,
)
from adapters.csc.parts import Parts, from_parts, to_parts
from gateway.errors import ConfigurationError
from schemas import facts as f
from schemas.disclosure import Disclosure
from schemas.message import MessageKind

DOCUMENTS: dict[MessageKind, type[Document]] = {
    MessageKind.MEETING_INVITATION: MeetingInvitationNotice,
    MessageKind.REFERRAL: ReferralNotice,
    MessageKind.WORKER_CONTACT: WorkerContactNotice,
    MessageKind.RECORD_UPDATE: DisclosureSummary,
    MessageKind.CONSENT_DIRECTIVE: DisclosureSummary,
    MessageKind.MEETING_REPLY: DisclosureSummary,
    # Made by the gateway's workflows (gateway/workflows): a summary of what the flow allows.
    MessageKind.THINK_FAMILY: DisclosureSummary,
    MessageKind.ACCESS_NOTIFICATION: DisclosureSummary,
    MessageKind.REFERRAL_ESCALATION: DisclosureSummary,
}
_NAMES: dict[type[Document], str] = {
    MeetingInvitationNotice: "meeting invitation notice",
    ReferralNotice: "referral notice",
    WorkerContactNotice: "worker contact notice",
    DisclosureSummary: "disclosure summary",
}
# Fact classes each document has a section for (people, relationships, organisations and worker
# contacts are in every document); None: every class.
_SECTIONS: dict[type[Document], frozenset[str] | None] = {
    MeetingInvitationNotice: frozenset({"meeting"}),
    ReferralNotice: frozenset({"referral", "risk"}),
    WorkerContactNotice: frozenset(),
    DisclosureSummary: None,
}
_EVERY_DOCUMENT = frozenset(
    {"person", "family-relationship", "organisation", "worker", "worker-role"}
)
_REASONS = {
    "labels": "labels are not carried; the obligations apply to all",
    "person.identifiers": "carried: this council's LA child id, one NHS number, one UPN and one "
    "former UPN",
    "person.sex": "the CSC formats code sex as M, F or U",
    "person.name": "an empty name is not carried",
    "worker-role.worker": "the worker it names is not in the disclosure",
}


def recipient(d: Disclosure) -> Recipient:
    """The council (DfE LA code) and, where the disclosure names one, its worker's id."""
    la_code, worker_id = d.recipient.organisation, None
    facts = {x.id: x for x in d.facts}
    role = facts.get(d.recipient.worker_role or "")
    if isinstance(role, f.WorkerRole):
        worker = facts.get(role.worker or "")
        if isinstance(worker, f.Worker):
            worker_id = worker.local_id
        council = facts.get(role.organisation or "")
        if isinstance(council, f.Organisation) and council.la_code is not None:
            la_code = council.la_code
    if not (la_code.isdigit() and len(la_code) == 3):
        raise ConfigurationError("a CSC document is addressed to a council by DfE LA code")
    return Recipient(la_code=la_code, worker_id=worker_id)


def render_document(d: Disclosure) -> tuple[Document, tuple[Loss, ...]]:
    """The notice or summary for a disclosure, and what it could not carry."""
    document_class = DOCUMENTS.get(d.kind)
    if document_class is None:
        raise ConfigurationError(
            f"the csc adapter has no council document for {d.kind.value} disclosures"
        )
    to = recipient(d)
    allowed = _SECTIONS[document_class]
    carried = tuple(x for x in d.facts if allowed is None or x.fact in _EVERY_DOCUMENT | allowed)
    parts = to_parts(carried, to.la_code)
    document = _document(document_class, d, to, parts)
    return document, _losses(d.facts, from_parts(document), _NAMES[document_class])


def _document(cls: type[Document], d: Disclosure, to: Recipient, parts: Parts) -> Document:
    sender = next(
        (
            x
            for x in d.facts
            if isinstance(x, f.Organisation) and x.ods_code == d.sender_organisation
        ),
        None,
    )
    basis = d.lawful_basis
    common: dict[str, object] = {
        "message_id": d.disclosure_id,
        "exchange_id": d.exchange_id,
        "sent_at": d.created_at,
        "kind": d.kind,
        "from_": Origin(
            organisation=d.sender_organisation, organisation_name=sender.name if sender else None
        ),
        "to": to,
        "subject": d.subject,
        "child": parts.child,
        "people": parts.people,
        "relationships": parts.relationships,
        "organisations": parts.organisations,
        "worker_contacts": parts.worker_contacts,
        "agreement": AgreementRef(id=d.agreement_id, version=d.agreement_version, flow=d.flow_id),
        "purpose": d.purpose.value,
        "lawful_basis": LawfulBasis(
            code=basis.code,
            art6=basis.art6.value,
            art9=basis.art9.value if basis.art9 else None,
            dpa2018=basis.dpa2018.value if basis.dpa2018 else None,
            statutory_gateway=basis.statutory_gateway,
            age_band=basis.age_band.value if basis.age_band else None,
            no_consent_reason=basis.no_consent_reason.value if basis.no_consent_reason else None,
        ),
        "obligations": tuple(sorted(o.value for o in d.obligations)),
        "withheld": tuple(
            Withheld(element=w.element, reason_code=w.reason_code.value, reason=w.reason, ask=w.ask)
            for w in d.withheld
        ),
    }
    if cls is MeetingInvitationNotice:
        if not parts.meetings:
            raise ConfigurationError("a meeting invitation disclosure holds no meeting")
        common["meeting"] = parts.meetings[0]
    elif cls is ReferralNotice:
        if not parts.referrals:
            raise ConfigurationError("a referral disclosure holds no referral")
        common["referral"] = parts.referrals[0]
        common["risks"] = parts.risks
    elif cls is DisclosureSummary:
        for section in (
            "meetings",
            "referrals",
            "risks",
            "mental_health_episodes",
            "social_care_episodes",
            "crisis_events",
            "diagnoses",
            "consents",
        ):
            common[section] = getattr(parts, section)
    return cls.model_validate(common)


def _losses(sent: tuple[f.Fact, ...], back: list[f.Fact], document: str) -> tuple[Loss, ...]:
    """Every field of the disclosure that did not come back equal from the document."""
    returned = {x.id: x for x in back}
    found: dict[str, Loss] = {}
    for fact in sent:
        other = returned.get(fact.id)
        if other is None or other.fact != fact.fact:
            reason = f"the {document} has no place for it"
            if fact.fact in ("meeting", "referral"):
                reason = f"the {document} carries one {fact.fact}, or none"
            elif fact.fact == "worker":
                reason = "a worker is carried with a worker role that names them, and none does"
            found.setdefault(fact.fact, Loss(fact.fact, reason))
            continue
        for name in type(fact).model_fields:
            if name in ("id", "fact") or getattr(fact, name) == getattr(other, name):
                continue
            key = "labels" if name in ("labels", "element_labels") else f"{fact.fact}.{name}"
            element = f"{fact.fact}.labels" if key == "labels" else key
            reason = _REASONS.get(key, f"the {document} cannot carry it")
            found.setdefault(element, Loss(element, reason))
    return tuple(found.values())
