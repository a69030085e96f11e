"""The CSC adapter's mapping table, for the docs and for loss reports."""

from __future__ import annotations

from adapters.base import MappingRow

MAPPING: tuple[MappingRow, ...] = (
    MappingRow("message_id", "message.message_id"),
    MappingRow("sent_at", "message.sent_at", "a date-time with a time zone"),
    MappingRow("la_code", "provenance.organisation + organisation (local-authority)"),
    MappingRow(
        "la_child_id", "person (the subject: the child).identifiers[la-child-id]", "with la_code"
    ),
    MappingRow("child_details.nhs_number", "person.identifiers[nhs-number]", "check digit"),
    MappingRow("child_details.unique_pupil_number", "person.identifiers[upn]"),
    MappingRow("child_details.first_name, surname", "person.name"),
    MappingRow("child_details.date_of_birth, sex (M/F/U)", "person.birth_date, person.sex"),
    MappingRow("social_care_episodes[]", "social-care-episode", "referral_date, closure_date"),
    MappingRow(
        "social_care_episodes[].child_protection_plans[]",
        "social-care-episode.plans (child-protection)",
        "category NEG/PHY/SAB/EMO/MUL",
    ),
    MappingRow(
        "social_care_episodes[].care_worker_details[] (no end_date, open episode)",
        "worker-role (allocated-social-worker) + worker",
        "the latest start_date if several; ended allocations are not mapped",
    ),
    MappingRow("care_worker_details.worker_id", "worker.local_id"),
    MappingRow("care_worker_details.worker_name", "worker.name", "last word = family name"),
    MappingRow("care_worker_details.team, phone, email", "worker-role.team, telecom"),
    MappingRow(
        "out_of_hours.phone, email",
        "worker-role.out_of_hours + organisation.telecom",
        "marked out_of_hours",
    ),
    MappingRow(
        "family[]",
        "person + family-relationship(person=member, related_to=child)",
        "mother/father/parent/step-parent/guardian/carer/other",
    ),
    MappingRow("(render) crisis notice child", "person with la-child-id of the recipient council"),
    MappingRow("(render) crisis notice parent", "disclosure.subject person + family-relationship"),
    MappingRow("(render) crisis notice event", "crisis-event kind, legal_status, period"),
    MappingRow(
        "(render) crisis notice from.care_coordinator",
        "worker-role (care-coordinator) + worker",
        "first in-hours phone and email; the out-of-hours phone",
    ),
    MappingRow("(render) crisis notice to.worker_id", "recipient.worker_role -> worker.local_id"),
    MappingRow("(render) crisis notice withheld[]", "disclosure.withheld"),
)
