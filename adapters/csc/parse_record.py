"""A child-record message (a DfE CSC API child record) to canonical facts.

The child (identifiers, name, birth date, sex, DfE ethnicity code, postcode), the council, and one
social care episode per ``social_care_episodes`` entry: referral source, primary need, the factors
identified at assessment, section 47 enquiries (with the ICPC date), and plans: child in need,
child protection, and one looked-after plan per placement. The current allocated worker is chosen
as for child-status. Everything else the record holds is listed as unmapped, by path.
"""

from __future__ import annotations

from datetime import datetime

from adapters.csc.build import CHILD, COUNCIL, PURGED, Builder, child, council, worker_in_role
from adapters.csc.child_record import ChildRecordMessage
from adapters.csc.child_record import SocialCareEpisode as EpisodeIn
from adapters.csc.common import Worker as WorkerIn
from adapters.csc.parse import HISTORY, current_allocation
from adapters.csc.vocabulary import ETHNICITY_NARROWED, ETHNICITY_TO_CANONICAL
from gateway.errors import InvalidMessage, Issue
from schemas.facts import Period, Plan, PlanKind, RoleKind, Section47, SocialCareEpisode
from schemas.message import CanonicalMessage, MessageKind

NARROWED = (
    "the DfE code is finer than its UK Core ethnic category, which is what the canonical "
    "person keeps"
)


def record_to_canonical(
    message: ChildRecordMessage, partner: str, received_at: datetime
) -> CanonicalMessage:
    """The canonical form of a validated child-record message."""
    if message.purge:
        # Deleting what the gateway learnt about a child is an act of its own, not a message.
        raise InvalidMessage(
            [
                Issue(
                    "$.purge",
                    "a purge of the whole child record cannot be carried",
                    "not-supported",
                )
            ],
            status=422,
        )
    out = Builder(message, partner, received_at)
    envelope = (
        "message_id",
        "la_code",
        "sent_at",
        "la_child_id",
        "purpose",
        "sharing_request",
        "purge",
    )
    out.rest(message, "$", (*envelope, "child_details", "social_care_episodes"))
    details = message.child_details
    if details.purge:
        out.not_carried("$.child_details", PURGED)
        out.add(child(message))
    else:
        out.rest(
            details,
            "$.child_details",
            (
                "first_name",
                "surname",
                "date_of_birth",
                "sex",
                "ethnicity",
                "postcode",
                "unique_pupil_number",
                "former_unique_pupil_number",
                "nhs_number",
            ),
        )
        if details.ethnicity in ETHNICITY_NARROWED:
            out.not_carried("$.child_details.ethnicity", NARROWED)
        out.add(
            child(
                message,
                first_name=details.first_name,
                surname=details.surname,
                birth_date=details.date_of_birth,
                sex=details.sex,
                nhs_number=details.nhs_number,
                upn=details.unique_pupil_number,
                former_upn=details.former_unique_pupil_number,
                ethnicity=ETHNICITY_TO_CANONICAL[details.ethnicity] if details.ethnicity else None,
                postcode=details.postcode,
            )
        )
    out.add(council(message))
    for e, episode in enumerate(message.social_care_episodes):
        if episode.purge:
            out.not_carried(f"$.social_care_episodes[{e}]", PURGED)
    live = [(e, x) for e, x in enumerate(message.social_care_episodes) if not x.purge]
    current = current_allocation([x for _, x in live])
    for position, (e, episode) in enumerate(live):
        allocated = None
        for w, entry in enumerate(episode.care_worker_details):
            if current != (position, w):
                out.not_carried(f"$.social_care_episodes[{e}].care_worker_details[{w}]", HISTORY)
                continue
            worker, role = worker_in_role(
                WorkerIn(worker_id=entry.worker_id),
                f"{e}-{w}",
                RoleKind.ALLOCATED_SOCIAL_WORKER,
                period=Period(start=entry.start_date),
            )
            out.add(worker, role)
            allocated = role.id
        out.add(_episode(out, e, episode, allocated))
    return out.message(MessageKind.CHILD_RECORD)


def _episode(out: Builder, e: int, episode: EpisodeIn, allocated: str | None) -> SocialCareEpisode:
    path = f"$.social_care_episodes[{e}]"
    out.rest(
        episode,
        path,
        (
            "referral_date",
            "referral_source",
            "primary_need_code",
            "care_worker_details",
            "child_and_family_assessments",
            "child_in_need_plans",
            "section_47_assessments",
            "child_protection_plans",
            "child_looked_after_placements",
            "closure_date",
            "closure_reason",
        ),
    )
    factors: list[str] = []
    for a, assessment in enumerate(episode.child_and_family_assessments):
        here = f"{path}.child_and_family_assessments[{a}]"
        if assessment.purge:
            out.not_carried(here, PURGED)
            continue
        out.rest(assessment, here, ("factors",))
        factors.extend(x for x in assessment.factors if x not in factors)
    section47: list[Section47] = []
    for s, enquiry in enumerate(episode.section_47_assessments):
        here = f"{path}.section_47_assessments[{s}]"
        if enquiry.purge:
            out.not_carried(here, PURGED)
            continue
        out.rest(enquiry, here, ("start_date", "icpc_date"))
        section47.append(Section47(start=enquiry.start_date, icpc_date=enquiry.icpc_date))
    plans: list[Plan] = []
    groups = (
        ("child_in_need_plans", PlanKind.CHILD_IN_NEED, episode.child_in_need_plans),
        ("child_protection_plans", PlanKind.CHILD_PROTECTION, episode.child_protection_plans),
        (
            "child_looked_after_placements",
            PlanKind.LOOKED_AFTER,
            episode.child_looked_after_placements,
        ),
    )
    for field, kind, items in groups:
        for p, item in enumerate(items):
            here = f"{path}.{field}[{p}]"
            if item.purge:
                out.not_carried(here, PURGED)
                continue
            category = getattr(item, "category", None)
            out.rest(item, here, ("start_date", "end_date", "category"))
            period = Period(start=item.start_date, end=item.end_date)
            plans.append(Plan(kind=kind, period=period, category=category))
    return SocialCareEpisode(
        id=f"social-care-episode-{e}",
        subject=CHILD,
        organisation=COUNCIL,
        referral_date=episode.referral_date,
        referral_source=episode.referral_source,
        primary_need=episode.primary_need_code,
        assessment_factors=tuple(factors),
        section47=tuple(section47),
        plans=tuple(plans),
        closure_date=episode.closure_date,
        closure_reason=episode.closure_reason,
        allocated_worker=allocated,
    )
