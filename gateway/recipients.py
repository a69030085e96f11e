"""Who may receive a message, and the recipient's own context added to its disclosure.

A crisis notice is addressed to the child's allocated social worker. The council already knows its
own child and worker, so the disclosure carries the child's identifiers in the council's namespace
and the worker's role from the index: that is addressing, not disclosure, and it is not minimised.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.index import IndexedRole, identifier_from_key
from gateway.settings import PartnerSettings
from schemas.facts import Fact, Organisation, Person, Worker, WorkerRole
from schemas.identifiers import LaChildId, PersonIdentifier

_PREFIX = "recipient-"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A possible recipient: an organisation, reached through a child and its allocated worker."""

    organisation: str
    child_person_id: str  # "" for a person the index does not hold yet (the message adds them)
    child_identifier_keys: tuple[str, ...]
    addressee: IndexedRole
    # The person's fact id in the message, for one the index does not hold yet (a referral
    # about a child new to the gateway); otherwise found from the index's matches.
    child_fact_id: str | None = None


@dataclass(frozen=True, slots=True)
class RecipientContext:
    """The minimised facts plus the recipient's own addressing facts."""

    facts: tuple[Fact, ...]
    about: tuple[str, ...]
    addressee_id: str


def _recipient_identifiers(
    keys: tuple[str, ...], partner: PartnerSettings
) -> list[PersonIdentifier]:
    # SECURITY: another council's child id is not this recipient's business; NHS numbers and
    # UPNs are national, LA child ids go only to the council that issued them.
    found: list[PersonIdentifier] = []
    for key in keys:
        identifier = identifier_from_key(key)
        if isinstance(identifier, LaChildId) and identifier.la_code not in partner.organisations:
            continue
        found.append(identifier)
    return found


def recipient_context(
    candidate: Candidate,
    minimised: tuple[Fact, ...],
    known: dict[str, str],
    partner: PartnerSettings,
) -> RecipientContext:
    """Add the child (in the recipient's identifiers) and the addressee to the disclosure."""
    identifiers = _recipient_identifiers(candidate.child_identifier_keys, partner)
    child_fact_id = candidate.child_fact_id or next(
        (fid for fid, pid in known.items() if pid == candidate.child_person_id), None
    )
    facts: list[Fact] = []
    child: Person | None = None
    for fact in minimised:
        if isinstance(fact, Person) and fact.id == child_fact_id:
            merged = list(fact.identifiers)
            merged.extend(i for i in identifiers if i.key not in {m.key for m in merged})
            child = fact.model_copy(update={"identifiers": tuple(merged)})
            facts.append(child)
        else:
            facts.append(fact)
    if child is None:
        child = Person(id=f"{_PREFIX}child", identifiers=tuple(identifiers))
        facts.append(child)

    renamed = {f.id: f"{_PREFIX}{f.id}" for f in candidate.addressee.facts}
    role = candidate.addressee.role_fact
    for fact in candidate.addressee.facts:
        if isinstance(fact, WorkerRole):
            facts.append(
                fact.model_copy(
                    update={
                        "id": renamed[fact.id],
                        "subject": child.id,
                        "worker": renamed.get(fact.worker or ""),
                        "organisation": renamed.get(fact.organisation or ""),
                    }
                )
            )
        elif isinstance(fact, Worker | Organisation):
            facts.append(fact.model_copy(update={"id": renamed[fact.id]}))
    return RecipientContext(tuple(facts), (child.id,), renamed[role.id])
