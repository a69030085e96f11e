"""The CSC adapter's inbound messages: child-record (DfE CSC API) and the SSD-named events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest

from adapters.csc import CscAdapter
from gateway.errors import Issue
from schemas.facts import (
    AbuseCategory,
    ContactPoint,
    FamilyRelationship,
    HumanName,
    Meeting,
    MeetingKind,
    MeetingResponse,
    Organisation,
    OrganisationKind,
    Period,
    Person,
    Plan,
    PlanKind,
    Referral,
    ReferralStatus,
    RelationshipRole,
    RoleKind,
    Section47,
    Sex,
    SocialCareEpisode,
    Worker,
    WorkerRole,
)
from schemas.identifiers import LaChildId, NhsNumber, SweRegistration, Upn
from schemas.message import CanonicalMessage, MessageKind, Unmapped
from tests.adapters.helpers import COUNCIL, CSC_SECRETS, failure, load

ADAPTER = CscAdapter()
SECRETS = (*CSC_SECRETS, "A123456789012", "B123456789012", "ZZ99", "SW0042", "SW123456", "Shah")
CHILD_ID = LaChildId(la_code="999", value="CH000123")
CHILD = Person(id="person-child", identifiers=(CHILD_ID, NhsNumber(value="9000000017")))
COUNCIL_ORG = Organisation(
    id="organisation-la", kind=OrganisationKind.LOCAL_AUTHORITY, la_code="999"
)
OUT_OF_HOURS = (ContactPoint(system="phone", value="01632 960800", out_of_hours=True),)
RECORD_ID = "council record ids are not carried: the child is identified by la_child_id"
NOT_CARRIED = "the canonical model has no element for it"


def fixture(name: str) -> dict[str, Any]:
    return load("csc", f"{name}.json")


def parse(data: dict[str, Any]) -> CanonicalMessage:
    return ADAPTER.parse(orjson.dumps(data), COUNCIL)


def problems(data: dict[str, Any] | bytes, status: int = 400) -> list[Issue]:
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    exc = failure(lambda b: ADAPTER.parse(b, COUNCIL), body, SECRETS)
    assert status == exc.status
    return exc.issues


def episode(**content: Any) -> SocialCareEpisode:
    return SocialCareEpisode(
        id="social-care-episode-0",
        subject="person-child",
        organisation="organisation-la",
        referral_date=date(2024, 11, 2),
        **content,
    )


# -- child-record -------------------------------------------------------------------------------


def test_child_record_maps_the_child_episode_plans_and_allocated_worker() -> None:
    """A DfE CSC API record: identifiers (UPN and former UPN), demographics with the DfE
    ethnicity as its UK Core category, one episode with source, need, factors, s47 and plans, and
    the current allocation."""
    message = parse(fixture("child-record"))
    assert (MessageKind.CHILD_RECORD, "person-child", "999") == (
        message.kind,
        message.subject,
        message.provenance.organisation,
    )
    assert (
        Person(
            id="person-child",
            identifiers=(
                CHILD_ID,
                NhsNumber(value="9000000017"),
                Upn(value="A123456789012"),
                Upn(value="B123456789012", former=True),
            ),
            name=HumanName(given=("Sam",), family="Smith"),
            birth_date=date(2016, 9, 3),
            sex=Sex.MALE,
            ethnicity="A",
            postcode="ZZ99 3AA",
        ),
        COUNCIL_ORG,
        Worker(id="worker-0-1", local_id="SW0042"),
        WorkerRole(
            id="worker-role-0-1",
            role=RoleKind.ALLOCATED_SOCIAL_WORKER,
            worker="worker-0-1",
            organisation="organisation-la",
            subject="person-child",
            period=Period(start=date(2025, 1, 20)),
        ),
        episode(
            referral_source="3A",
            primary_need="N3",
            assessment_factors=("4B", "15A"),
            section47=(Section47(start=date(2025, 1, 6), icpc_date=date(2025, 1, 20)),),
            plans=(
                Plan(
                    kind=PlanKind.CHILD_IN_NEED,
                    period=Period(start=date(2024, 12, 11), end=date(2025, 1, 19)),
                ),
                Plan(
                    kind=PlanKind.CHILD_PROTECTION,
                    period=Period(start=date(2025, 1, 20)),
                    category=AbuseCategory.EMOTIONAL,
                ),
            ),
            allocated_worker="worker-role-0-1",
        ),
    ) == message.facts


def test_child_record_lists_everything_it_does_not_carry() -> None:
    """Record ids, wellbeing scores, disabilities, ended allocations, assessment dates, the s47
    end and ICPC flag come back as unmapped, by path and reason."""
    s = "$.social_care_episodes[0]"
    assert [
        ("$.mis_child_id", RECORD_ID),
        ("$.health_and_wellbeing", NOT_CARRIED),
        ("$.child_details.disabilities", NOT_CARRIED),
        ("$.child_details.uasc_flag", NOT_CARRIED),
        (
            f"{s}.care_worker_details[0]",
            "only the current allocation is carried (the minimum necessary)",
        ),
        (f"{s}.social_care_episode_id", RECORD_ID),
        (f"{s}.referral_no_further_action_flag", NOT_CARRIED),
        (f"{s}.child_and_family_assessments[0].child_and_family_assessment_id", RECORD_ID),
        (f"{s}.child_and_family_assessments[0].start_date", NOT_CARRIED),
        (f"{s}.child_and_family_assessments[0].authorisation_date", NOT_CARRIED),
        (f"{s}.section_47_assessments[0].end_date", NOT_CARRIED),
        (f"{s}.section_47_assessments[0].section_47_assessment_id", RECORD_ID),
        (f"{s}.section_47_assessments[0].icpc_required_flag", NOT_CARRIED),
        (f"{s}.child_in_need_plans[0].child_in_need_plan_id", RECORD_ID),
        (f"{s}.child_protection_plans[0].child_protection_plan_id", RECORD_ID),
    ] == [(u.element, u.reason) for u in parse(fixture("child-record")).unmapped]


def test_purged_items_are_left_out_and_reported() -> None:
    """An item marked purge is not mapped; the unmapped list says it was purged."""
    data = fixture("child-record")
    data["social_care_episodes"][0]["child_protection_plans"][0]["purge"] = True
    message = parse(data)
    plans = [p.kind for f in message.facts if isinstance(f, SocialCareEpisode) for p in f.plans]
    assert [PlanKind.CHILD_IN_NEED] == plans
    assert (
        Unmapped(
            element="$.social_care_episodes[0].child_protection_plans[0]",
            reason="purged: the canonical model carries no deletions",
        )
        in message.unmapped
    )


def test_a_finer_ethnicity_code_is_reported_as_narrowed() -> None:
    """Gypsy/Roma (WROM) becomes UK Core C, and the narrowing is reported."""
    data = fixture("child-record")
    data["child_details"]["ethnicity"] = "WROM"
    message = parse(data)
    assert "C" == next(f for f in message.facts if isinstance(f, Person)).ethnicity
    assert "$.child_details.ethnicity" in [u.element for u in message.unmapped]


def test_a_purge_of_the_whole_child_is_refused() -> None:
    """``purge: true`` on the record cannot be carried: 422 at $.purge."""
    data = fixture("child-record")
    data["purge"] = True
    assert [
        Issue("$.purge", "a purge of the whole child record cannot be carried", "not-supported")
    ] == problems(data, status=422)


# -- SSD events ---------------------------------------------------------------------------------


def test_allocated_worker_changed_is_a_worker_in_a_role_for_the_child() -> None:
    """ssd_involvements: the worker (name, SWE registration, contacts), the role with its team,
    period and the council's out-of-hours line; the change reason is unmapped."""
    message = parse(fixture("allocated-worker-changed"))
    telecom = (
        ContactPoint(system="phone", value="01632 960555"),
        ContactPoint(system="email", value="priya.shah@council999.example"),
    )
    assert (
        MessageKind.ALLOCATED_WORKER_CHANGED,
        (
            CHILD,
            COUNCIL_ORG.model_copy(update={"telecom": OUT_OF_HOURS}),
            Worker(
                id="worker-0",
                name=HumanName(given=("Priya",), family="Shah"),
                local_id="SW0042",
                registration=SweRegistration(value="SW123456"),
                telecom=telecom,
            ),
            WorkerRole(
                id="worker-role-0",
                role=RoleKind.ALLOCATED_SOCIAL_WORKER,
                worker="worker-0",
                organisation="organisation-la",
                subject="person-child",
                team="Northtown Child Protection Team",
                telecom=telecom,
                out_of_hours=OUT_OF_HOURS,
                period=Period(start=date(2025, 1, 20)),
            ),
        ),
        (Unmapped(element="$.worker_change_reason", reason=NOT_CARRIED),),
    ) == (message.kind, message.facts, message.unmapped)


def test_an_ended_involvement_ends_the_role() -> None:
    """involvement_end_date closes the role's period (the index then forgets the role)."""
    data = fixture("allocated-worker-changed")
    data["involvement_end_date"] = "2025-06-30"
    role = next(f for f in parse(data).facts if isinstance(f, WorkerRole))
    assert Period(start=date(2025, 1, 20), end=date(2025, 6, 30)) == role.period


@pytest.mark.parametrize(
    ("name", "kind", "content"),
    [
        (
            "section-47-started",
            MessageKind.SECTION_47_STARTED,
            {"section47": (Section47(start=date(2025, 1, 6)),)},
        ),
        (
            "icpc-scheduled",
            MessageKind.ICPC_SCHEDULED,
            {
                "section47": (
                    Section47(
                        start=date(2025, 1, 6),
                        icpc_target_date=date(2025, 1, 27),
                        icpc_date=date(2025, 1, 20),
                    ),
                )
            },
        ),
        (
            "cp-plan-started",
            MessageKind.CP_PLAN_STARTED,
            {
                "plans": (
                    Plan(
                        kind=PlanKind.CHILD_PROTECTION,
                        period=Period(start=date(2025, 1, 20)),
                        category=AbuseCategory.EMOTIONAL,
                    ),
                )
            },
        ),
        (
            "cp-plan-ended",
            MessageKind.CP_PLAN_ENDED,
            {
                "plans": (
                    Plan(
                        kind=PlanKind.CHILD_PROTECTION,
                        period=Period(start=date(2025, 1, 20), end=date(2025, 7, 21)),
                        category=AbuseCategory.EMOTIONAL,
                    ),
                )
            },
        ),
    ],
)
def test_episode_events_carry_the_episode_with_what_happened(
    name: str, kind: MessageKind, content: dict[str, Any]
) -> None:
    """s47, ICPC and CP plan events: the child and one episode, named by its referral date,
    holding only the enquiry, conference or plan."""
    message = parse(fixture(name))
    assert (kind, "person-child", episode(**content)) == (
        message.kind,
        message.subject,
        message.facts[-1],
    )


def test_the_latest_cp_category_is_unmapped() -> None:
    """The canonical plan keeps the initial category; the latest one is reported."""
    assert [
        Unmapped(
            element="$.cp_plan_latest_category",
            reason="the canonical plan carries one category: the initial one",
        )
    ] == list(parse(fixture("cp-plan-ended")).unmapped)


def test_an_unborn_plan_is_an_unborn_child_protection_plan() -> None:
    """``unborn: true`` is the CP-IS unborn child plan type."""
    data = fixture("cp-plan-started")
    data["unborn"] = True
    plan = next(f for f in parse(data).facts if isinstance(f, SocialCareEpisode)).plans[0]
    assert PlanKind.UNBORN_CHILD_PROTECTION == plan.kind


def test_child_details_on_an_event_identify_the_child() -> None:
    """Names and birth date given with an event are carried on the child."""
    child = parse(fixture("cp-plan-started")).facts[0]
    assert (
        CHILD.model_copy(
            update={
                "name": HumanName(given=("Sam",), family="Smith"),
                "birth_date": date(2016, 9, 3),
            }
        )
        == child
    )


def test_meeting_invitation_invites_the_parents_care_coordinator() -> None:
    """An ICPC invitation: the organiser's role, the invited care coordinator as a role for the
    mother (by NHS number) at the trust, and the meeting with both as participants."""
    message = parse(fixture("meeting-invitation"))
    start = datetime(2025, 1, 20, 10, tzinfo=UTC)
    assert MessageKind.MEETING_INVITATION == message.kind
    assert (
        Person(id="person-invitee-0", identifiers=(NhsNumber(value="9000000009"),)),
        FamilyRelationship(
            id="family-relationship-invitee-0",
            person="person-invitee-0",
            related_to="person-child",
            role=RelationshipRole.MOTHER,
        ),
        Organisation(id="organisation-invitee-0", kind=OrganisationKind.NHS_TRUST, ods_code="RX9"),
        WorkerRole(
            id="worker-role-invitee-0",
            role=RoleKind.CARE_COORDINATOR,
            organisation="organisation-invitee-0",
            subject="person-invitee-0",
        ),
        Meeting(
            id="meeting-0",
            kind=MeetingKind.INITIAL_CP_CONFERENCE,
            subject="person-child",
            start=start,
            end=datetime(2025, 1, 20, 12, tzinfo=UTC),
            participants=("worker-role-organiser", "worker-role-invitee-0"),
            location="Northtown Civic Centre, Room 4",
            reference="MTG000031",
        ),
    ) == message.facts[-5:]
    organiser = message.fact("worker-role-organiser")
    assert isinstance(organiser, WorkerRole)
    assert (RoleKind.ALLOCATED_SOCIAL_WORKER, "person-child", OUT_OF_HOURS) == (
        organiser.role,
        organiser.subject,
        organiser.out_of_hours,
    )


def test_two_roles_for_one_parent_share_the_person() -> None:
    """Invitees with the same NHS number are one person; a repeated relationship is reported."""
    data = fixture("meeting-invitation")
    data["invitees"].append(dict(data["invitees"][0], role="amhp"))
    message = parse(data)
    assert 1 == sum(1 for f in message.facts if f.id.startswith("person-invitee"))
    assert ["$.invitees[1].relationship"] == [u.element for u in message.unmapped]


def test_meeting_reply_answers_the_trusts_meeting_about_the_parent() -> None:
    """A reply to a care review: the meeting (by the trust's id) about the mother, with the
    council worker's acceptance; the comment is unmapped."""
    message = parse(fixture("meeting-reply"))
    assert (MessageKind.MEETING_REPLY, "person-subject") == (message.kind, message.subject)
    assert (
        Meeting(
            id="meeting-0",
            kind=MeetingKind.CARE_REVIEW,
            subject="person-subject",
            start=datetime(2025, 2, 10, 14, tzinfo=UTC),
            participants=("worker-role-responder",),
            responses=(MeetingResponse(participant="worker-role-responder", response="accepted"),),
            reference="CPA-RX9-0042",
        )
        == message.facts[-1]
    )
    assert ["$.comment"] == [u.element for u in message.unmapped]


def test_referral_status_acknowledges_the_trusts_referral() -> None:
    """The referral (by the trust's reference) is allocated, to a named worker."""
    message = parse(fixture("referral-status"))
    referral = message.facts[-1]
    assert MessageKind.REFERRAL_STATUS == message.kind
    assert (
        Referral(
            id="referral-0",
            subject="person-child",
            concerns="",
            status=ReferralStatus.ALLOCATED,
            reference="REF-RX9-2024-0117",
        )
        == referral
    )
    role = message.fact("worker-role-0")
    assert isinstance(role, WorkerRole)
    assert RoleKind.ALLOCATED_SOCIAL_WORKER == role.role


# -- bad input ----------------------------------------------------------------------------------

Change = Callable[[dict[str, Any]], object]


@pytest.mark.parametrize(
    ("name", "change", "expected"),
    [
        (
            "child-record",
            lambda d: d["child_details"].update(date_of_birth="2016-02-30"),
            Issue("$.child_details.date_of_birth", "must be a date (YYYY-MM-DD)", "value"),
        ),
        (
            "child-record",
            lambda d: d["child_details"].update(ethnicity="XXXX"),
            Issue(
                "$.child_details.ethnicity",
                "is not a code of DfE ethnicity (CIN census, CSC API)",
                "value",
            ),
        ),
        (
            "child-record",
            lambda d: d["child_details"].update(former_unique_pupil_number="B12"),
            Issue(
                "$.child_details.former_unique_pupil_number",
                "a UPN is a letter, eleven digits, then a digit or a letter",
                "value",
            ),
        ),
        (
            "child-record",
            lambda d: d["social_care_episodes"][0].update(referral_source="3Z"),
            Issue(
                "$.social_care_episodes[0].referral_source",
                "is not a code of CIN census ReferralSource",
                "value",
            ),
        ),
        (
            "child-record",
            lambda d: d["social_care_episodes"][0]["child_and_family_assessments"][0].update(
                factors=["4B", "99Z"]
            ),
            Issue(
                "$.social_care_episodes[0].child_and_family_assessments[0].factors[1]",
                "is not a code of CIN census factors identified at assessment",
                "value",
            ),
        ),
        (
            "child-record",
            lambda d: d["social_care_episodes"][0]["section_47_assessments"][0].update(
                end_date="2025-01-01"
            ),
            Issue(
                "$.social_care_episodes[0].section_47_assessments[0].end_date",
                "must not be before start_date",
                "value",
            ),
        ),
        (
            "child-record",
            lambda d: d["social_care_episodes"][0].update(closure_date="2024-01-01"),
            Issue(
                "$.social_care_episodes[0].closure_date",
                "must not be before referral_date",
                "value",
            ),
        ),
        (
            "child-record",
            lambda d: d["health_and_wellbeing"]["sdq_assessments"][0].update(score=41),
            Issue(
                "$.health_and_wellbeing.sdq_assessments[0].score",
                "must be an SDQ score from 0 to 40",
                "value",
            ),
        ),
        (
            "child-record",
            lambda d: d["social_care_episodes"][0].update(worker="SW0042"),
            Issue(
                "$.social_care_episodes[0].worker", "is not an element of this format", "structure"
            ),
        ),
        (
            "allocated-worker-changed",
            lambda d: d.update(professional_role="care-coordinator"),
            Issue(
                "$.professional_role",
                "must be one of 'allocated-social-worker', 'team-manager', "
                "'safeguarding-lead-children', 'link-worker', 'iro-or-cp-chair', 'front-door' or "
                "'out-of-hours'",
                "code-invalid",
            ),
        ),
        (
            "allocated-worker-changed",
            lambda d: d["worker"].update(social_worker_registration_no="123456"),
            Issue(
                "$.worker.social_worker_registration_no",
                "does not have the required format",
                "value",
            ),
        ),
        (
            "allocated-worker-changed",
            lambda d: d.update(involvement_end_date="2025-01-19"),
            Issue("$.involvement_end_date", "must not be before involvement_start_date", "value"),
        ),
        (
            "section-47-started",
            lambda d: d.update(s47_start_date="2024-11-01"),
            Issue("$.s47_start_date", "must not be before referral_date", "value"),
        ),
        (
            "icpc-scheduled",
            lambda d: d.pop("icpc_date"),
            Issue("$.icpc_date", "is required", "required"),
        ),
        (
            "cp-plan-started",
            lambda d: d.update(cp_plan_initial_category="ABUSE"),
            Issue(
                "$.cp_plan_initial_category",
                "must be one of 'NEG', 'PHY', 'SAB', 'EMO' or 'MUL'",
                "code-invalid",
            ),
        ),
        (
            "cp-plan-ended",
            lambda d: d.update(cp_plan_end_date="2025-01-19"),
            Issue("$.cp_plan_end_date", "must not be before cp_plan_start_date", "value"),
        ),
        (
            "meeting-invitation",
            lambda d: d.update(start="2025-01-20T10:00:00"),
            Issue("$.start", "must include a time zone", "value"),
        ),
        (
            "meeting-invitation",
            lambda d: d["invitees"][0].update(nhs_number="9000000018"),
            Issue("$.invitees[0].nhs_number", "the NHS number's check digit is wrong", "value"),
        ),
        (
            "meeting-invitation",
            lambda d: d.update(invitees=[]),
            Issue("$.invitees", "must name at least one invitee", "value"),
        ),
        (
            "meeting-invitation",
            lambda d: d.update(end="2025-01-20T09:00:00+00:00"),
            Issue("$.end", "must not be before start", "value"),
        ),
        (
            "meeting-reply",
            lambda d: d.update(response="maybe"),
            Issue(
                "$.response",
                "must be one of 'accepted', 'declined' or 'tentative'",
                "code-invalid",
            ),
        ),
        (
            "referral-status",
            lambda d: d.pop("worker"),
            Issue("$.worker", "is required when the status is allocated", "value"),
        ),
        (
            "referral-status",
            lambda d: d.update(la_child_id="CH 000123"),
            Issue("$.la_child_id", "does not have the required format", "value"),
        ),
        (
            "referral-status",
            lambda d: d.update(sent_at="yesterday"),
            Issue("$.sent_at", "must be a date-time (ISO 8601)", "value"),
        ),
    ],
)
def test_each_bad_element_is_named_without_its_value(
    name: str, change: Change, expected: Issue
) -> None:
    """Every class of bad input is one issue at its JSON path, quoting nothing from the record."""
    data = fixture(name)
    change(data)
    assert [expected] == problems(data)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"message_type": "child-record", ',
            Issue("(body)", "is not well-formed JSON", "structure"),
        ),
        (b"\xff\xfe", Issue("(body)", "is not well-formed JSON", "structure")),
        (b"[]", Issue("$", "must be an object", "structure")),
        (b'{"la_code": "999"}', Issue("$.message_type", "is required", "required")),
        (
            b'{"message_type": "crisis-notice"}',
            Issue(
                "$.message_type",
                "must be one of 'child-status', 'child-record', 'allocated-worker-changed', "
                "'section-47-started', 'icpc-scheduled', 'cp-plan-started', 'cp-plan-ended', "
                "'meeting-invitation', 'meeting-reply', 'referral-status', 'consent-directive'",
                "code-invalid",
            ),
        ),
    ],
)
def test_what_is_not_a_csc_message_is_refused_at_the_top(body: bytes, expected: Issue) -> None:
    """Not JSON, not an object, no or an unknown message_type: one issue, before any model."""
    assert [expected] == problems(body)


def test_every_problem_in_an_event_is_reported_at_once() -> None:
    """Several faults in a meeting invitation come back together."""
    data = fixture("meeting-invitation")
    data["meeting_type"] = "party"
    data["organiser"].pop("worker_id")
    data["invitees"][0]["nhs_number"] = "900000000"
    assert [
        "$.meeting_type",
        "$.organiser.worker_id",
        "$.invitees[0].nhs_number",
    ] == [i.element for i in problems(data)]


def test_deep_nesting_is_refused_at_the_body() -> None:
    """JSON nested deeper than the parser allows is not well-formed for the adapter."""
    body = b'{"message_type": "child-status", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert [Issue("(body)", "is not well-formed JSON", "structure")] == problems(body)


def test_a_huge_value_is_refused_by_rule() -> None:
    """A 10 MB child id is named as too long, not echoed."""
    data = fixture("section-47-started")
    data["la_child_id"] = "C" * 10_000_000
    assert [Issue("$.la_child_id", "is too long", "too-long")] == problems(data)


def test_purged_child_details_leave_only_the_child_id() -> None:
    """``child_details.purge``: the child is known by LA child id alone, and the purge reported."""
    data = fixture("child-record")
    data["child_details"]["purge"] = True
    message = parse(data)
    assert Person(id="person-child", identifiers=(CHILD_ID,)) == message.facts[0]
    assert "$.child_details" in [u.element for u in message.unmapped]


def test_a_care_workers_registration_is_carried_in_child_status() -> None:
    """child-status care_worker_details may name the Social Work England registration."""
    data = fixture("child-status")
    data["social_care_episodes"][1]["care_worker_details"][1]["social_worker_registration_no"] = (
        "SW123456"
    )
    worker = next(f for f in parse(data).facts if isinstance(f, Worker))
    assert SweRegistration(value="SW123456") == worker.registration
