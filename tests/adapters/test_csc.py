"""The CSC adapter: child-status messages in, crisis notices out, and the published schemas."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from adapters.base import Adapter, Loss
from adapters.csc import CscAdapter, child_status_schema, crisis_notice_schema, csc_schemas
from adapters.csc.crisis_notice import CrisisNotice
from adapters.csc.inbound import INBOUND
from adapters.csc.mapping_doc import markdown
from adapters.csc.schema import SCHEMA_FILES, schema_bytes
from adapters.fhir_r4 import FhirR4Adapter
from gateway.errors import ConfigurationError, Issue
from schemas.disclosure import Addressee
from schemas.facts import (
    AbuseCategory,
    ContactPoint,
    CrisisEvent,
    Diagnosis,
    Fact,
    FamilyRelationship,
    HumanName,
    Organisation,
    OrganisationKind,
    Period,
    Person,
    Plan,
    PlanKind,
    RelationshipRole,
    RoleKind,
    Sex,
    SocialCareEpisode,
    Worker,
    WorkerRole,
)
from schemas.identifiers import LaChildId, NhsNumber, Upn
from schemas.message import CanonicalMessage, MessageKind, Unmapped
from schemas.provenance import Provenance
from tests.adapters.helpers import COUNCIL, CSC_SECRETS, TRUST, disclosure, failure, load

ADAPTER = CscAdapter()
DOCS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def message() -> dict[str, Any]:
    """The council's child-status fixture."""
    return load("csc", "child-status.json")


def parse(data: dict[str, Any]) -> CanonicalMessage:
    return ADAPTER.parse(orjson.dumps(data), COUNCIL)


def problems(data: dict[str, Any] | bytes) -> list[Issue]:
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    exc = failure(lambda b: ADAPTER.parse(b, COUNCIL), body, CSC_SECRETS)
    assert 400 == exc.status
    return exc.issues


OUT_OF_HOURS = ContactPoint(system="phone", value="01632 960800", out_of_hours=True)
EXPECTED = CanonicalMessage(
    message_id="csc-999-000481",
    kind=MessageKind.CHILD_STATUS,
    subject="person-child",
    sent_at=datetime(2025, 3, 10, 9, 15, tzinfo=UTC),
    provenance=Provenance(
        organisation="999",
        system="council-999",
        source_format="csc",
        source_message_id="csc-999-000481",
        received_at=COUNCIL.received_at,
    ),
    facts=(
        Person(
            id="person-child",
            identifiers=(
                LaChildId(la_code="999", value="CH000123"),
                NhsNumber(value="9000000017"),
                Upn(value="A123456789012"),
            ),
            name=HumanName(given=("Sam",), family="Smith"),
            birth_date=date(2016, 9, 3),
            sex=Sex.MALE,
        ),
        Organisation(
            id="organisation-la",
            kind=OrganisationKind.LOCAL_AUTHORITY,
            la_code="999",
            telecom=(OUT_OF_HOURS,),
        ),
        SocialCareEpisode(
            id="social-care-episode-0",
            subject="person-child",
            organisation="organisation-la",
            referral_date=date(2023, 2, 14),
            closure_date=date(2023, 8, 31),
        ),
        Worker(
            id="worker-1-1",
            name=HumanName(given=("Priya",), family="Shah"),
            local_id="SW0042",
            telecom=(
                ContactPoint(system="phone", value="01632 960555"),
                ContactPoint(system="email", value="priya.shah@council999.example"),
            ),
        ),
        WorkerRole(
            id="worker-role-1-1",
            role=RoleKind.ALLOCATED_SOCIAL_WORKER,
            worker="worker-1-1",
            organisation="organisation-la",
            subject="person-child",
            team="Northtown Child Protection Team",
            telecom=(
                ContactPoint(system="phone", value="01632 960555"),
                ContactPoint(system="email", value="priya.shah@council999.example"),
            ),
            out_of_hours=(OUT_OF_HOURS,),
            period=Period(start=date(2025, 1, 20)),
        ),
        SocialCareEpisode(
            id="social-care-episode-1",
            subject="person-child",
            organisation="organisation-la",
            referral_date=date(2024, 11, 2),
            plans=(
                Plan(
                    kind=PlanKind.CHILD_PROTECTION,
                    period=Period(start=date(2025, 1, 20)),
                    category=AbuseCategory.EMOTIONAL,
                ),
            ),
            allocated_worker="worker-role-1-1",
        ),
        Person(
            id="person-family-0",
            identifiers=(NhsNumber(value="9000000009"),),
            name=HumanName(given=("Jane",), family="Smith"),
            birth_date=date(1990, 4, 12),
        ),
        FamilyRelationship(
            id="family-relationship-0",
            person="person-family-0",
            related_to="person-child",
            role=RelationshipRole.MOTHER,
        ),
    ),
    unmapped=tuple(
        Unmapped(
            element=f"$.social_care_episodes[{e}].care_worker_details[0]",
            reason="only the current allocation is carried (the minimum necessary)",
        )
        for e in (0, 1)
    ),
)


# -- parsing -----------------------------------------------------------------------------------


def test_adapter_implements_the_protocol() -> None:
    """CscAdapter is an Adapter named csc that takes application/json."""
    assert isinstance(ADAPTER, Adapter)
    assert ("csc", ("application/json",)) == (ADAPTER.name, ADAPTER.content_types)


def test_child_status_maps_to_canonical_facts() -> None:
    """The child, the council, both episodes with the plan, the current allocated worker and the
    mother become facts; the ended allocations do not."""
    assert EXPECTED == parse(message())


def test_the_latest_open_allocation_is_the_allocated_worker() -> None:
    """Two open allocations in the open episode: the later start is the allocated worker."""
    data = message()
    workers = data["social_care_episodes"][1]["care_worker_details"]
    del workers[0]["end_date"]
    roles = [f for f in parse(data).facts if isinstance(f, WorkerRole)]
    assert ["worker-role-1-1"] == [r.id for r in roles]


def test_a_closed_episode_has_no_allocated_worker() -> None:
    """An open allocation in a closed episode is history, not the current worker."""
    data = message()
    data["social_care_episodes"][1]["closure_date"] = "2025-03-01"
    data["social_care_episodes"][0]["care_worker_details"][0].pop("end_date")
    facts = parse(data).facts
    assert ([], [None, None]) == (
        [f for f in facts if isinstance(f, (Worker, WorkerRole))],
        [f.allocated_worker for f in facts if isinstance(f, SocialCareEpisode)],
    )


def test_malformed_json_is_refused_at_the_body() -> None:
    """Bytes that are not JSON: one issue at (body)."""
    assert [Issue("(body)", "is not well-formed JSON", "structure")] == problems(
        b'{"la_child_id": "CH000123", '
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["child_details"].update(nhs_number="9000000018"),
            Issue("$.child_details.nhs_number", "the NHS number's check digit is wrong", "value"),
        ),
        (
            lambda d: d["child_details"].update(date_of_birth="2016-09-31"),
            Issue("$.child_details.date_of_birth", "must be a date (YYYY-MM-DD)", "value"),
        ),
        (
            lambda d: d["child_details"].update(sex="X"),
            Issue("$.child_details.sex", "must be one of 'M', 'F' or 'U'", "code-invalid"),
        ),
        (
            lambda d: d["child_details"].update(religion="none"),
            Issue("$.child_details.religion", "is not an element of this format", "structure"),
        ),
        (
            lambda d: d.pop("la_child_id"),
            Issue("$.la_child_id", "is required", "required"),
        ),
        (
            lambda d: d.update(la_code="99"),
            Issue("$.la_code", "a DfE LA code is three digits", "value"),
        ),
        (
            lambda d: d.update(sent_at="2025-03-10T09:15:00"),
            Issue("$.sent_at", "must include a time zone", "value"),
        ),
        (
            lambda d: d["family"][0].update(relationship="aunt"),
            Issue(
                "$.family[0].relationship",
                "must be one of 'mother', 'father', 'parent', 'step-parent', 'guardian', 'carer'"
                " or 'other'",
                "code-invalid",
            ),
        ),
        (
            lambda d: d["family"][0].update(nhs_number="900000000"),
            Issue("$.family[0].nhs_number", "an NHS number is exactly 10 digits", "value"),
        ),
        (
            lambda d: d["social_care_episodes"][1]["care_worker_details"][1].update(
                end_date="2024-12-31"
            ),
            Issue(
                "$.social_care_episodes[1].care_worker_details[1].end_date",
                "must not be before start_date",
                "value",
            ),
        ),
        (
            lambda d: d["social_care_episodes"][1]["child_protection_plans"][0].update(
                category="NEGLECT"
            ),
            Issue(
                "$.social_care_episodes[1].child_protection_plans[0].category",
                "must be one of 'NEG', 'PHY', 'SAB', 'EMO' or 'MUL'",
                "code-invalid",
            ),
        ),
        (
            lambda d: d["child_details"].update(unique_pupil_number="A12345"),
            Issue(
                "$.child_details.unique_pupil_number",
                "a UPN is a letter, eleven digits, then a digit or a letter",
                "value",
            ),
        ),
    ],
)
def test_each_bad_element_is_named_without_its_value(change: Any, expected: Issue) -> None:
    """Every kind of bad input is one issue at its JSON path, quoting nothing from the record."""
    data = message()
    change(data)
    assert [expected] == problems(data)


def test_every_problem_is_reported_at_once() -> None:
    """Several faults come back together."""
    data = message()
    data["child_details"]["nhs_number"] = "9000000018"
    data["family"][0]["date_of_birth"] = "12/04/1990"
    data["out_of_hours"] = {}
    assert [
        "$.child_details.nhs_number",
        "$.family[0].date_of_birth",
        "$.out_of_hours.phone",
    ] == [i.element for i in problems(data)]


# -- rendering ---------------------------------------------------------------------------------


def load_bytes(*parts: str) -> bytes:
    """A fixture as bytes."""
    return orjson.dumps(load(*parts))


def _crisis_disclosure_facts() -> tuple[tuple[Fact, ...], str | None]:
    """What the pipeline hands the CSC adapter for the s136 story, under the crisis-notice preset:
    the trust's facts minimised (no diagnosis, location, reason or sex), plus the council's own
    addressing facts (its allocated worker), renamed as the pipeline does."""
    trust = FhirR4Adapter().parse(load_bytes("fhir", "crisis-s136.json"), TRUST)
    council = ADAPTER.parse(load_bytes("csc", "child-status.json"), COUNCIL)
    facts: list[Fact] = []
    for fact in trust.facts:
        if isinstance(fact, Person):
            facts.append(fact.model_copy(update={"sex": None}))
        elif isinstance(fact, CrisisEvent):
            cleared = {"location": None, "reason": None, "element_labels": ()}
            facts.append(fact.model_copy(update=cleared))
        elif not isinstance(fact, Diagnosis):
            facts.append(fact)
    renamed = {
        old: f"recipient-{old}" for old in ("worker-1-1", "worker-role-1-1", "organisation-la")
    }
    for fact in council.facts:
        if fact.id not in renamed:
            continue
        update: dict[str, object] = {"id": renamed[fact.id]}
        if isinstance(fact, WorkerRole):
            update |= {"worker": renamed["worker-1-1"], "organisation": renamed["organisation-la"]}
        facts.append(fact.model_copy(update=update))
    return tuple(facts), trust.subject


RECIPIENT = Addressee(
    partner="council-999", organisation="999", worker_role="recipient-worker-role-1-1"
)


def test_crisis_notice_renders_from_the_disclosure() -> None:
    """The notice names child, mother, detention under s136, care coordinator, agreement, basis,
    obligations and the withheld diagnosis; nothing is lost."""
    facts, subject = _crisis_disclosure_facts()
    rendered = ADAPTER.render(disclosure(facts, subject, recipient=RECIPIENT, about=("person-2",)))
    assert ((), "application/json") == (rendered.losses, rendered.content_type)
    assert {
        "message_type": "crisis-notice",
        "schema_version": "1",
        "notice_id": "disc-0001",
        "exchange_id": "exch-0001",
        "sent_at": "2025-03-14T23:07:00Z",
        "from": {
            "organisation": "RX9",
            "organisation_name": "Northtown Mental Health NHS Foundation Trust",
            "care_coordinator": {
                "name": "Alex Morgan",
                "team": "Northtown Community Mental Health Team",
                "phone": "01632 960123",
                "email": "alex.morgan@rx9.example",
                "out_of_hours": "01632 960999",
            },
        },
        "to": {"la_code": "999", "worker_id": "SW0042"},
        "child": {
            "la_child_id": "CH000123",
            "nhs_number": "9000000017",
            "first_name": "Sam",
            "surname": "Smith",
            "date_of_birth": "2016-09-03",
        },
        "parent": {
            "first_name": "Jane",
            "surname": "Smith",
            "date_of_birth": "1990-04-12",
            "nhs_number": "9000000009",
            "relationship": "mother",
        },
        "event": {
            "type": "detention",
            "legal_status": {
                "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-LegalStatusClassificationEngland",
                "code": "20",
                "display": "Formally detained under Mental Health Act Section 136",
            },
            "start": "2025-03-14T22:40:00Z",
            "end": None,
        },
        "mental_health_episode": {
            "status": "active",
            "team": "Northtown Community Mental Health Team",
            "start": "2024-06-01",
            "end": None,
        },
        "agreement": {
            "id": "northtown-safeguarding",
            "version": 3,
            "flow": "trust-to-council-crisis",
        },
        "purpose": "safeguarding-child",
        "lawful_basis": {
            "code": "art6(1)(e)+art9(2)(g)+sch1-para18",
            "art6": "6(1)(e)",
            "art9": "9(2)(g)",
            "dpa2018": "sch1-para18",
            "statutory_gateway": None,
            "age_band": "child",
            "no_consent_reason": "would-prejudice-protection",
        },
        "obligations": ["NORDSCLCD"],
        "withheld": [
            {
                "element": "diagnosis",
                "reason_code": "sensitivity-label",
                "reason": "psychiatric information is not shared under this agreement",
                "ask": "Northtown Trust information governance, 01632 960000",
            }
        ],
    } == orjson.loads(rendered.body)


def test_rendered_notice_validates_against_the_published_model() -> None:
    """The bytes sent are a valid CrisisNotice."""
    facts, subject = _crisis_disclosure_facts()
    body = ADAPTER.render(disclosure(facts, subject, recipient=RECIPIENT)).body
    notice = CrisisNotice.model_validate_json(body)
    assert ("CH000123", "SW0042") == (notice.child.la_child_id, notice.to.worker_id)


def test_what_the_notice_cannot_carry_is_reported_as_loss() -> None:
    """Fields the agreement let through but the notice has no place for come back as losses."""
    facts, subject = _crisis_disclosure_facts()
    trust = FhirR4Adapter().parse(load_bytes("fhir", "crisis-s136.json"), TRUST)
    event = next(f for f in trust.facts if isinstance(f, CrisisEvent))
    diagnosis = next(f for f in trust.facts if isinstance(f, Diagnosis))
    fuller = (*(event if isinstance(f, CrisisEvent) else f for f in facts), diagnosis)
    rendered = ADAPTER.render(disclosure(fuller, subject, recipient=RECIPIENT))
    assert (
        Loss("crisis-event.location", "the crisis notice has no field for it"),
        Loss("crisis-event.reason", "the crisis notice has no field for it"),
        Loss("crisis-event.labels", "labels are not carried; the obligations apply to all"),
        Loss("diagnosis", "the crisis notice has no place for it"),
    ) == rendered.losses
    assert b"20010003" not in rendered.body


def test_only_disclosed_facts_appear() -> None:
    """With only the child and the addressing facts, every other section is null or empty."""
    facts, subject = _crisis_disclosure_facts()
    kept = tuple(f for f in facts if f.id == "person-2" or f.id.startswith("recipient-"))
    notice = orjson.loads(ADAPTER.render(disclosure(kept, subject, recipient=RECIPIENT)).body)
    assert (
        None,
        None,
        None,
        {"organisation": "RX9", "organisation_name": None, "care_coordinator": None},
    ) == (
        notice["parent"],
        notice["event"],
        notice["mental_health_episode"],
        notice["from"],
    )


def test_a_notice_needs_the_councils_child() -> None:
    """Without a child carrying this council's LA child id the notice cannot be addressed."""
    facts, subject = _crisis_disclosure_facts()
    other = tuple(f for f in facts if f.id != "person-2")
    with pytest.raises(ConfigurationError):
        ADAPTER.render(disclosure(other, subject, recipient=RECIPIENT))


def test_only_crisis_events_are_rendered() -> None:
    """A child-status disclosure is not a crisis notice."""
    facts, subject = _crisis_disclosure_facts()
    with pytest.raises(ConfigurationError):
        ADAPTER.render(
            disclosure(facts, subject, kind=MessageKind.CHILD_STATUS, recipient=RECIPIENT)
        )


# -- schemas and mapping -----------------------------------------------------------------------


@pytest.mark.parametrize("filename", sorted(SCHEMA_FILES))
def test_committed_schema_files_are_what_the_models_generate(filename: str) -> None:
    """docs/schemas holds exactly the generated schema (regenerate: python -m adapters.csc)."""
    assert schema_bytes(filename) == (DOCS / filename).read_bytes()


def test_schema_functions_match_the_committed_files() -> None:
    """crisis_notice_schema() and child_status_schema() are the published documents."""
    assert (
        orjson.loads((DOCS / "csc-crisis-notice.schema.json").read_bytes()),
        orjson.loads((DOCS / "csc-child-status.schema.json").read_bytes()),
    ) == (crisis_notice_schema(), child_status_schema())


def test_every_csc_message_has_a_published_schema() -> None:
    """csc_schemas() names one schema per message in and out, and docs/schemas holds exactly
    those files."""
    names = {
        *(f"csc-{m}" for m in INBOUND),
        "csc-crisis-notice",
        "csc-meeting-invitation-notice",
        "csc-referral-notice",
        "csc-worker-contact-notice",
        "csc-disclosure-summary",
    }
    schemas = csc_schemas()
    assert (names, names) == (
        set(schemas),
        {p.name.removesuffix(".schema.json") for p in DOCS.glob("csc-*.schema.json")},
    )
    assert {
        name: orjson.loads((DOCS / f"{name}.schema.json").read_bytes()) for name in names
    } == schemas


def test_describe_lists_the_mapping() -> None:
    """describe() names the message, source and canonical element of every row, for every
    message in and out."""
    rows = ADAPTER.describe()
    assert [] == [r for r in rows if not (r.source and r.canonical and ": " in r.source)]
    messages = {r.source.split(": ")[0] for r in rows}
    assert {"child-record", "referral-status", "disclosure-summary (out)"} <= messages


def test_committed_mapping_doc_is_what_describe_generates() -> None:
    """docs/mappings/csc.md is the generated table (regenerate: python -m adapters.csc.mapping_doc)."""
    committed = (DOCS.parent / "mappings" / "csc.md").read_text(encoding="utf-8")
    assert markdown(ADAPTER.describe()) == committed
