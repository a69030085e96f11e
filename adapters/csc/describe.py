"""The CSC adapter's mapping table, for the docs and for loss reports.

Each row's ``source`` starts with the message it belongs to (``child-record: ...``);
``python -m adapters.csc.mapping_doc [FILE]`` writes the table as Markdown (default
``docs/mappings/csc.md``), and a test checks the committed file is what it generates.
"""

from __future__ import annotations

from adapters.base import MappingRow

_CHILD = "person (the subject: the child)"
_EPISODE_EVENT = (
    "referral_date",
    "social-care-episode.referral_date",
    "names the episode (ssd_cin_episodes.cine_referral_date)",
)
_ENVELOPE = (
    ("message_id", "message.message_id", ""),
    ("sent_at", "message.sent_at", "a date-time with a time zone"),
    ("la_code", "provenance.organisation + organisation (local-authority)", "DfE LA code"),
    ("la_child_id", f"{_CHILD}.identifiers[la-child-id]", "namespaced by la_code"),
    (
        "purpose",
        "message.purpose",
        "a local purpose code (safeguarding-child, child-protection-conference, care-coordination,"
        " crisis-response, referral), mapped to HL7 v3-ActReason; a message naming none is"
        " refused for every recipient; a Joined-up addition",
    ),
    (
        "sharing_request.lawful_basis, age_band, no_consent_reason",
        "message.request.lawful_basis (+ age_band, no_consent_reason)",
        "a lawful basis code (art6(1)(e)+art9(2)(g)+sch1-para18); as the FHIR sharing-request"
        " extension; optional, a Joined-up addition",
    ),
    (
        "sharing_request.override.reason, justification, approver",
        "message.request.override.reason_code, justification, approver",
        "an urgent override; only where the flow allows overrides, always flagged for review",
    ),
    (
        "sharing_request.withhold.by, more_detrimental_judgement",
        "message.request.withhold",
        "the council's decision not to share (Children Act 2004 s16LA)",
    ),
)
_THIRD_PARTY = (
    "a person the message does not name as the child's parent or carer is a third party:"
    " labelled 3RDPARTY"
)
_CHILD_DETAILS = (
    ("child_details.nhs_number", "person.identifiers[nhs-number]", "check digit"),
    ("child_details.unique_pupil_number", "person.identifiers[upn]", ""),
    ("child_details.first_name, surname", "person.name", ""),
    ("child_details.date_of_birth, sex (M/F/U)", "person.birth_date, person.sex", ""),
)
_WORKER = (
    ("worker_id", "worker.local_id", ""),
    ("worker_name", "worker.name", "last word = family name"),
    ("social_worker_registration_no", "worker.registration", "Social Work England, SW..."),
    ("team, phone, email", "worker-role.team, worker(-role).telecom", ""),
)
_OUT_OF_HOURS = (
    "out_of_hours.phone, email",
    "worker-role.out_of_hours + organisation.telecom",
    "marked out_of_hours",
)
_TERMS = (
    ("from", "disclosure.sender_organisation + its organisation fact's name", ""),
    (
        "to.la_code, to.worker_id",
        "recipient organisation; recipient.worker_role -> worker.local_id",
        "",
    ),
    ("agreement, purpose, lawful_basis, obligations", "the disclosure's terms", ""),
    ("withheld[]", "disclosure.withheld", "element, reason, whom to ask; never content"),
)
_PARTS = (
    ("child", "person with this council's la-child-id", "the first such person"),
    ("people[]", "person", "la_child_id (this council's), one NHS number, upn, former_upn"),
    ("relationships[]", "family-relationship", "mother/father/parent/step-parent/guardian/..."),
    ("organisations[]", "organisation", ""),
    ("worker_contacts[]", "worker-role + worker (nested)", "a worker travels with its roles"),
    ("every part's ref", "the fact's id", "references between parts use refs"),
    ("(any field)", "(loss)", "whatever does not read back equal is reported as a loss"),
)


def _rows(message: str, rows: tuple[tuple[str, str, str], ...]) -> tuple[MappingRow, ...]:
    return tuple(
        MappingRow(f"{message}: {source}", canonical, note) for source, canonical, note in rows
    )


MAPPING: tuple[MappingRow, ...] = (
    *_rows(
        "child-status",
        (
            *_ENVELOPE,
            *_CHILD_DETAILS,
            ("social_care_episodes[]", "social-care-episode", "referral_date, closure_date"),
            (
                "social_care_episodes[].child_protection_plans[]",
                "social-care-episode.plans (child-protection)",
                "category NEG/PHY/SAB/EMO/MUL",
            ),
            (
                "social_care_episodes[].care_worker_details[] (no end_date, open episode)",
                "worker-role (allocated-social-worker) + worker",
                "the latest start_date if several; other allocations are unmapped",
            ),
            *((f"care_worker_details.{s}", c, n) for s, c, n in _WORKER),
            _OUT_OF_HOURS,
            (
                "family[]",
                "person + family-relationship(person=member, related_to=child)",
                "mother/father/parent/step-parent/guardian/carer/other",
            ),
            (
                "family[].relationship other",
                "person (3RDPARTY)",
                f"{_THIRD_PARTY}, as FHIR labels a related person who is not the subject's child",
            ),
        ),
    ),
    *_rows(
        "child-record",
        (
            *_ENVELOPE,
            *_CHILD_DETAILS,
            ("child_details.former_unique_pupil_number", "person.identifiers[upn, former]", ""),
            (
                "child_details.ethnicity",
                "person.ethnicity",
                "DfE code to UK Core category (schemas/codes/ethnicity.yaml); WIRT, WROM narrowed",
            ),
            ("child_details.postcode", "person.postcode", ""),
            (
                "child_details.expected_date_of_birth, disabilities, uasc_flag, uasc_end_date, "
                "unique_pupil_number_unknown_reason",
                "(unmapped)",
                "",
            ),
            ("mis_child_id, *_id", "(unmapped)", "council record ids are not carried"),
            ("health_and_wellbeing, education_health_care_plans", "(unmapped)", ""),
            ("purge: true (the child)", "(refused, 422)", "deletions cannot be carried"),
            ("purge: true (an item)", "(unmapped)", "the item is left out"),
            ("social_care_episodes[]", "social-care-episode", ""),
            (
                "social_care_episodes[].referral_source, primary_need_code",
                "social-care-episode.referral_source, primary_need",
                "CIN codes (schemas/codes)",
            ),
            (
                "social_care_episodes[].closure_date, closure_reason",
                "social-care-episode.closure_date, closure_reason",
                "",
            ),
            (
                "social_care_episodes[].referral_no_further_action_flag, adoption, care_leavers",
                "(unmapped)",
                "",
            ),
            (
                "social_care_episodes[].care_worker_details[]",
                "worker-role (allocated-social-worker) + worker.local_id",
                "the current allocation, as for child-status",
            ),
            (
                "social_care_episodes[].child_and_family_assessments[].factors",
                "social-care-episode.assessment_factors",
                "every assessment's factors, once each; assessment dates unmapped",
            ),
            (
                "social_care_episodes[].section_47_assessments[].start_date, icpc_date",
                "social-care-episode.section47[].start, icpc_date",
                "end_date, icpc_required_flag unmapped",
            ),
            (
                "social_care_episodes[].child_in_need_plans[]",
                "social-care-episode.plans (child-in-need)",
                "",
            ),
            (
                "social_care_episodes[].child_protection_plans[]",
                "social-care-episode.plans (child-protection)",
                "category: a Joined-up addition",
            ),
            (
                "social_care_episodes[].child_looked_after_placements[]",
                "social-care-episode.plans (looked-after), one per placement",
                "reasons, placement type and postcode unmapped",
            ),
        ),
    ),
    *_rows(
        "allocated-worker-changed",
        (
            *_ENVELOPE,
            *((f"worker.{s}", c, n) for s, c, n in _WORKER),
            ("professional_role", "worker-role.role", "a council role (RoleKind)"),
            (
                "involvement_start_date, involvement_end_date",
                "worker-role.period",
                "an end date ends the role",
            ),
            ("worker_change_reason", "(unmapped)", ""),
            _OUT_OF_HOURS,
        ),
    ),
    *_rows(
        "section-47-started",
        (
            *_ENVELOPE,
            _EPISODE_EVENT,
            ("s47_start_date", "social-care-episode.section47[].start", ""),
        ),
    ),
    *_rows(
        "icpc-scheduled",
        (
            *_ENVELOPE,
            _EPISODE_EVENT,
            ("s47_start_date", "social-care-episode.section47[].start", ""),
            (
                "icpc_target_date, icpc_date",
                "social-care-episode.section47[].icpc_target_date, icpc_date",
                "",
            ),
        ),
    ),
    *_rows(
        "cp-plan-started, cp-plan-ended",
        (
            *_ENVELOPE,
            _EPISODE_EVENT,
            (
                "cp_plan_start_date, cp_plan_end_date",
                "social-care-episode.plans[].period",
                "",
            ),
            ("cp_plan_initial_category", "social-care-episode.plans[].category", ""),
            ("cp_plan_latest_category", "(unmapped)", "one category is carried: the initial one"),
            ("unborn", "plans[].kind unborn-child-protection", "a Joined-up addition (CP-IS)"),
        ),
    ),
    *_rows(
        "meeting-invitation",
        (
            *_ENVELOPE,
            ("meeting_id", "meeting.reference", "quoted by replies"),
            ("meeting_type", "meeting.kind", "strategy discussion, ICPC, RCPC, core group"),
            ("start, end, location, status", "meeting.start, end, location, status", ""),
            ("organiser", "worker + worker-role (for the child), first participant", ""),
            (
                "invitees[].nhs_number, relationship",
                "person + family-relationship to the child",
                "one person per NHS number",
            ),
            (
                "invitees[].relationship other, or not given",
                "person (3RDPARTY)",
                _THIRD_PARTY,
            ),
            ("invitees[].ods_code", "organisation (nhs-trust)", ""),
            (
                "invitees[].role, worker_name, phone, email",
                "worker-role (for that person) + worker",
                "a participant",
            ),
            _OUT_OF_HOURS,
        ),
    ),
    *_rows(
        "meeting-reply",
        (
            *_ENVELOPE,
            ("meeting_id, meeting_type, start", "meeting.reference, kind, start", ""),
            ("subject_nhs_number", "person: the meeting's subject", "else the child"),
            ("responder", "worker + worker-role, the participant", ""),
            ("response", "meeting.responses[]", "accepted, declined, tentative"),
            ("comment", "(unmapped)", ""),
        ),
    ),
    *_rows(
        "referral-status",
        (
            *_ENVELOPE,
            ("referral_id", "referral.reference", "the referrer's own id"),
            ("status", "referral.status", "received, allocated, no-further-action, ..."),
            ("worker", "worker + worker-role (allocated-social-worker)", "required when allocated"),
        ),
    ),
    *_rows(
        "consent-directive",
        (
            *_ENVELOPE,
            ("decision, given_by", "consent.decision, given_by", "permit or deny; who gave it"),
            ("recipients, purposes", "consent.recipients, purposes", "empty: any"),
            ("start_date, end_date, recorded_at", "consent.period, recorded_at", ""),
            ("consent_id", "(unmapped)", "the council's own record id"),
        ),
    ),
    *_rows(
        "crisis-notice (out)",
        (
            ("child", "person with la-child-id of the recipient council", ""),
            ("parent", "disclosure.subject person + family-relationship", ""),
            ("event", "crisis-event kind, legal_status, period", ""),
            (
                "from.care_coordinator",
                "worker-role (care-coordinator) + worker",
                "first in-hours phone and email; the out-of-hours phone",
            ),
            ("to.worker_id", "recipient.worker_role -> worker.local_id", ""),
            ("withheld[]", "disclosure.withheld", ""),
        ),
    ),
    *_rows("meeting-invitation-notice (out)", (*_PARTS, ("meeting", "meeting", "one"), *_TERMS)),
    *_rows(
        "referral-notice (out)",
        (*_PARTS, ("referral", "referral", "one"), ("risks[]", "risk", ""), *_TERMS),
    ),
    *_rows("worker-contact-notice (out)", (*_PARTS, *_TERMS)),
    *_rows(
        "disclosure-summary (out)",
        (
            *_PARTS,
            (
                "meetings, referrals, risks, mental_health_episodes, social_care_episodes, "
                "crisis_events, diagnoses, consents",
                "the fact of each class",
                "every field",
            ),
            *_TERMS,
        ),
    ),
)
