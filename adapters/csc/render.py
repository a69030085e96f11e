"""A crisis-event Disclosure as a CSC crisis notice, working only from the disclosure.

The notice is addressed from facts the pipeline placed in the disclosure: the child Person with an
LA child id of the recipient council, and the allocated worker's WorkerRole named in
``recipient.worker_role`` (whose Worker gives the council's ``worker_id``). Those addressing facts
are consumed by the addressing; every other disclosed field the notice cannot carry is returned as
a Loss (``<fact>.<field>``, or ``<fact>`` when nothing of it fits), never dropped silently.
"""

from __future__ import annotations

from typing import TypeVar

from adapters.base import Loss
from adapters.csc.crisis_notice import (
    AgreementRef,
    CareCoordinator,
    Child,
    CrisisNotice,
    Event,
    LawfulBasis,
    LegalStatus,
    MentalHealthEpisode,
    Parent,
    Recipient,
    Sender,
    Withheld,
)
from adapters.csc.vocabulary import ROLE_TO_RELATIONSHIP, FamilyWord
from gateway.errors import ConfigurationError
from schemas import facts as f
from schemas.base import CanonicalModel
from schemas.disclosure import Disclosure
from schemas.identifiers import LaChildId, NhsNumber, PersonIdentifier
from schemas.labels import SecurityLabels
from schemas.message import MessageKind

_NOT_CONTENT = frozenset({"id", "fact", "labels", "element_labels"})
_UNLABELLED = SecurityLabels()
T = TypeVar("T", bound=CanonicalModel)


def _full_name(name: f.HumanName | None) -> tuple[str | None, str | None]:
    if name is None:
        return None, None
    return " ".join(name.given) or None, name.family


class _Notice:
    """One rendering: which fields were carried, which facts addressed it, what was lost."""

    def __init__(self, disclosure: Disclosure) -> None:
        self.d = disclosure
        self.facts: dict[str, f.Fact] = {x.id: x for x in disclosure.facts}
        self.carried: dict[str, set[str]] = {}
        self.addressing: set[str] = set()
        self.contacts_used: dict[str, set[f.ContactPoint]] = {}
        self.partial: dict[str, Loss] = {}

    def get(self, fact_id: str | None, kind: type[T]) -> T | None:
        found = self.facts.get(fact_id) if fact_id is not None else None
        return found if isinstance(found, kind) else None

    def of(self, kind: type[T]) -> list[T]:
        return [x for x in self.d.facts if isinstance(x, kind)]

    def use(self, fact: f.Fact, *fields: str) -> None:
        self.carried.setdefault(fact.id, set()).update(fields)

    def use_identifiers(self, person: f.Person, carried: list[PersonIdentifier]) -> None:
        self.use(person, "identifiers")
        if any(i not in carried for i in person.identifiers):
            self.partial["person.identifiers"] = Loss(
                "person.identifiers", "the notice carries LA child ids and NHS numbers only"
            )

    # -- addressing ----------------------------------------------------------------------------

    def recipient(self) -> Recipient:
        """The council (DfE LA code) and the allocated worker's id, from the addressing facts."""
        la_code, worker_id = self.d.recipient.organisation, None
        role = self.get(self.d.recipient.worker_role, f.WorkerRole)
        if role is not None:
            self.addressing.add(role.id)
            worker = self.get(role.worker, f.Worker)
            if worker is not None:
                self.addressing.add(worker.id)
                worker_id = worker.local_id
            council = self.get(role.organisation, f.Organisation)
            if council is not None and council.la_code is not None:
                la_code = council.la_code
        if not (la_code.isdigit() and len(la_code) == 3):
            raise ConfigurationError("a crisis notice is addressed to a council by DfE LA code")
        self.addressing.update(x.id for x in self.of(f.Organisation) if x.la_code == la_code)
        return Recipient(la_code=la_code, worker_id=worker_id)

    def child(self, la_code: str) -> tuple[Child, f.Person]:
        """The child, known to the council by its LA child id."""
        about = [self.get(i, f.Person) for i in self.d.about]
        for person in [*about, *self.of(f.Person)]:
            if person is None or person.id == self.d.subject:
                continue
            local = next(
                (
                    i
                    for i in person.identifiers
                    if isinstance(i, LaChildId) and i.la_code == la_code
                ),
                None,
            )
            if local is None:
                continue
            nhs = next((i for i in person.identifiers if isinstance(i, NhsNumber)), None)
            self.use(person, "name", "birth_date")
            self.use_identifiers(person, [local] if nhs is None else [local, nhs])
            first, last = _full_name(person.name)
            return Child(
                la_child_id=local.value,
                nhs_number=nhs.value if nhs else None,
                first_name=first,
                surname=last,
                date_of_birth=person.birth_date,
            ), person
        # Configuration, not input: the pipeline places the child for a council recipient.
        raise ConfigurationError("the disclosure has no child with an LA child id of this council")

    # -- content -------------------------------------------------------------------------------

    def parent(self, child: f.Person) -> Parent | None:
        """The subject, and how they stand to the child."""
        person = self.get(self.d.subject, f.Person)
        if person is None:
            return None
        nhs = next((i for i in person.identifiers if isinstance(i, NhsNumber)), None)
        self.use(person, "name", "birth_date")
        self.use_identifiers(person, [] if nhs is None else [nhs])
        relationship: FamilyWord | None = None
        for link in self.of(f.FamilyRelationship):
            if {link.person, link.related_to} != {person.id, child.id}:
                continue
            self.use(link, "person", "related_to", "role")
            if link.person == person.id:
                relationship = relationship or ROLE_TO_RELATIONSHIP.get(link.role)
            elif link.role is f.RelationshipRole.CHILD:
                relationship = relationship or "parent"
        first, last = _full_name(person.name)
        return Parent(
            first_name=first,
            surname=last,
            date_of_birth=person.birth_date,
            nhs_number=nhs.value if nhs else None,
            relationship=relationship,
        )

    def event(self) -> Event | None:
        """The crisis: about the subject if several are disclosed (the others are losses)."""
        events = self.of(f.CrisisEvent)
        event = next((x for x in events if x.subject == self.d.subject), None)
        event = event or (events[0] if events else None)
        if event is None:
            return None
        self.use(event, "kind", "subject", "period", "legal_status")
        self.use_if_sender(event, event.organisation, "organisation")
        status = event.legal_status
        return Event(
            type=event.kind,
            legal_status=None
            if status is None
            else LegalStatus(system=status.system, code=status.code, display=status.display),
            start=event.period.start,
            end=event.period.end,
        )

    def use_if_sender(self, fact: f.Fact, organisation: str | None, field: str) -> None:
        """``field`` is carried when it names the sender, whom the notice's ``from`` names."""
        org = self.get(organisation, f.Organisation)
        if org is not None and org.ods_code == self.d.sender_organisation:
            self.use(fact, field)

    def episode(self) -> f.MentalHealthEpisode | None:
        episode = next(iter(self.of(f.MentalHealthEpisode)), None)
        if episode is not None:
            self.use(episode, "subject", "status", "team", "period", "care_coordinator")
            self.use_if_sender(episode, episode.organisation, "organisation")
        return episode

    def sender(self, episode: f.MentalHealthEpisode | None) -> Sender:
        code = self.d.sender_organisation
        organisation = next((x for x in self.of(f.Organisation) if x.ods_code == code), None)
        if organisation is not None:
            self.use(organisation, "kind", "ods_code", "name")
        return Sender(
            organisation=code,
            organisation_name=organisation.name if organisation else None,
            care_coordinator=self.care_coordinator(episode),
        )

    def care_coordinator(self, episode: f.MentalHealthEpisode | None) -> CareCoordinator | None:
        """The episode's care coordinator, else any disclosed care coordinator role."""
        role = self.get(episode.care_coordinator if episode else None, f.WorkerRole)
        role = role or next(
            (x for x in self.of(f.WorkerRole) if x.role is f.RoleKind.CARE_COORDINATOR), None
        )
        if role is None or role.id in self.addressing:
            return None
        worker = self.get(role.worker, f.Worker)
        self.use(role, "role", "worker", "subject", "team")
        self.use_if_sender(role, role.organisation, "organisation")
        out_of_hours = [c for c in role.out_of_hours if c.system == "phone"]
        if out_of_hours and len(role.out_of_hours) == 1:
            self.use(role, "out_of_hours")
        first, last = _full_name(worker.name if worker else None)
        if worker is not None and worker.name is not None:
            self.use(worker, "name")
        return CareCoordinator(
            name=" ".join(x for x in (first, last) if x) or None,
            team=role.team or (episode.team if episode else None),
            phone=self.contact("phone", role, worker),
            email=self.contact("email", role, worker),
            out_of_hours=out_of_hours[0].value if out_of_hours else None,
        )

    def contact(self, system: str, *holders: f.WorkerRole | f.Worker | None) -> str | None:
        """The first in-hours contact of this system, from the first holder that has one."""
        for holder in holders:
            if holder is None:
                continue
            for contact in holder.telecom:
                if contact.system == system and not contact.out_of_hours:
                    self.contacts_used.setdefault(holder.id, set()).add(contact)
                    return contact.value
        return None

    # -- the notice ----------------------------------------------------------------------------

    def notice(self) -> CrisisNotice:
        d, basis = self.d, self.d.lawful_basis
        if d.kind is not MessageKind.CRISIS_EVENT:
            raise ConfigurationError("the csc adapter renders crisis-event disclosures only")
        to = self.recipient()
        child, child_fact = self.child(to.la_code)
        episode = self.episode()
        return CrisisNotice(
            notice_id=d.disclosure_id,
            exchange_id=d.exchange_id,
            sent_at=d.created_at,
            from_=self.sender(episode),
            to=to,
            child=child,
            parent=self.parent(child_fact),
            event=self.event(),
            mental_health_episode=None
            if episode is None
            else MentalHealthEpisode(
                status=episode.status,
                team=episode.team,
                start=episode.period.start if episode.period else None,
                end=episode.period.end if episode.period else None,
            ),
            agreement=AgreementRef(id=d.agreement_id, version=d.agreement_version, flow=d.flow_id),
            purpose=d.purpose.value,
            lawful_basis=LawfulBasis(
                code=basis.code,
                art6=basis.art6.value,
                art9=basis.art9.value if basis.art9 else None,
                dpa2018=basis.dpa2018.value if basis.dpa2018 else None,
                statutory_gateway=basis.statutory_gateway,
                age_band=basis.age_band.value if basis.age_band else None,
                no_consent_reason=basis.no_consent_reason.value
                if basis.no_consent_reason
                else None,
            ),
            obligations=tuple(sorted(o.value for o in d.obligations)),
            withheld=tuple(
                Withheld(
                    element=w.element, reason_code=w.reason_code.value, reason=w.reason, ask=w.ask
                )
                for w in d.withheld
            ),
        )

    def losses(self) -> tuple[Loss, ...]:
        """Every disclosed field that is neither carried nor consumed by the addressing."""
        found = dict(self.partial)
        for fact in self.d.facts:
            used = self.contacts_used.get(fact.id, set())
            if (
                isinstance(fact, (f.Worker, f.WorkerRole))
                and fact.telecom
                and set(fact.telecom) <= used
            ):
                self.use(fact, "telecom")
        for fact in self.d.facts:
            if fact.id in self.addressing:
                continue
            carried = self.carried.get(fact.id)
            if carried is None:
                found.setdefault(
                    fact.fact, Loss(fact.fact, "the crisis notice has no place for it")
                )
                continue
            for name, info in type(fact).model_fields.items():
                if name in _NOT_CONTENT or name in carried or getattr(fact, name) == info.default:
                    continue
                element = f"{fact.fact}.{name}"
                found.setdefault(element, Loss(element, "the crisis notice has no field for it"))
            if fact.labels != _UNLABELLED or any(
                getattr(fact, x.element) is not None for x in fact.element_labels
            ):
                element = f"{fact.fact}.labels"
                found.setdefault(
                    element, Loss(element, "labels are not carried; the obligations apply to all")
                )
        return tuple(found.values())


def render_notice(disclosure: Disclosure) -> tuple[CrisisNotice, tuple[Loss, ...]]:
    """The crisis notice for a disclosure, and what the notice could not carry."""
    notice = _Notice(disclosure)
    rendered = notice.notice()
    return rendered, notice.losses()
