"""CSC sharing requests and third parties through the policy (issue 4).

A council's sharing request (``sharing_request`` on the CSC envelope) must be decided exactly as the
same request from the trust in FHIR. The FHIR side runs end to end through the real HTTP harness
(the decision recorded in the ledger's ``disclosure.decided``); the CSC side runs the policy path
``gateway.pipeline.decide_all`` runs (``decide``, then ``apply_conditions``), because the pipeline
routes only crisis events so far: a CSC message is accepted and updates the index (README, "How an
exchange works"; issue 7). When CSC messages are routed, the HTTP test below should assert their
``disclosure.decided`` entries too.

Neither shipped council-to-trust flow accepts Sch 1 para 18 or allows overrides, so the tests use
the shipped agreements with both added to ``crisis-notice`` and ``child-protection-status``, in a
test-local directory (the shipped file is not changed).

A third party a CSC message names (labelled ``3RDPARTY`` by the adapter) is withheld by
minimisation, with the sensitivity label as the reason, unless the flow permits ``3RDPARTY``.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from adapters.base import ParseContext
from adapters.csc import CscAdapter
from adapters.fhir_r4.request import SHARING_REQUEST_EXTENSION
from gateway.pipeline import _is_child
from gateway.policy.agreements import load_agreements
from gateway.policy.conditions import Conditions, apply_conditions
from gateway.policy.engine import decide
from gateway.policy.minimise import minimise
from gateway.settings import bundled
from schemas.agreement import Agreement, Flow
from schemas.disclosure import WithheldReason
from schemas.facts import Consent, Person
from schemas.labels import Sensitivity
from schemas.message import CanonicalMessage
from tests.conftest import FIXTURES, THINK_FAMILY_AGREEMENT, Database
from tests.gateway_harness import child_status, crisis_bundle, start_harness

RECEIVED = datetime(2025, 3, 14, 23, 6, tzinfo=UTC)
PARA18_CODE = "art6(1)(e)+art9(2)(g)+sch1-para18"
JUSTIFICATION = "Cannot wait until the morning: the child is at home tonight."
APPROVER = "Duty team manager, A. Approver"
THIRD_PARTY_NHS = "9000000025"
SHIPPED = load_agreements(bundled("agreements"))


def _agreements(tmp_path: Path) -> Path:
    """The shipped agreements, with the crisis and child-protection-status flows on the same bases
    (the crisis flow's, and Sch 1 para 18 for a child) and allowing urgent overrides: the two
    formats then meet the same terms, and any difference in a decision is the format's."""
    directory = tmp_path / "agreements"
    # Without the think-family agreement, as agreements_for_tests (tests/conftest.py).
    shutil.copytree(
        bundled("agreements"), directory, ignore=shutil.ignore_patterns(THINK_FAMILY_AGREEMENT)
    )
    path = directory / "demo-trust-council.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    flows = {flow["id"]: flow for flow in document["flows"]}
    bases = [
        *flows["crisis-notice"]["lawful_bases"],
        {"art6": "6(1)(e)", "art9": "9(2)(g)", "dpa2018": "sch1-para18", "age_band": "child"},
    ]
    for flow_id in ("crisis-notice", "child-protection-status"):
        flows[flow_id]["lawful_bases"] = bases
        flows[flow_id]["allow_override"] = True
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return directory


# The same three requests, as the CSC envelope and as the FHIR MessageHeader extension.
REQUESTS: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    "para18": (
        {
            "lawful_basis": PARA18_CODE,
            "age_band": "child",
            "no_consent_reason": "would-prejudice-protection",
        },
        [
            {"url": "lawfulBasis", "valueCode": PARA18_CODE},
            {"url": "ageBand", "valueCode": "child"},
            {"url": "noConsentReason", "valueCode": "would-prejudice-protection"},
        ],
    ),
    "override": (
        {
            "override": {
                "reason": "imminent-risk-to-child",
                "justification": JUSTIFICATION,
                "approver": APPROVER,
            }
        },
        [
            {
                "url": "override",
                "extension": [
                    {"url": "reason", "valueCode": "imminent-risk-to-child"},
                    {"url": "justification", "valueString": JUSTIFICATION},
                    {"url": "approver", "valueString": APPROVER},
                ],
            }
        ],
    ),
    "para18-incomplete": (
        {"lawful_basis": PARA18_CODE, "age_band": "child"},
        [
            {"url": "lawfulBasis", "valueCode": PARA18_CODE},
            {"url": "ageBand", "valueCode": "child"},
        ],
    ),
}
# What each request must come to: outcome, reason code, flagged for review.
EXPECTED = {
    "para18": ("permit", "flow-permits", False),
    "override": ("permit", "flow-permits", True),
    "para18-incomplete": ("refuse", "para18-incomplete", False),
}


def _fhir_crisis(parts: list[dict[str, Any]]) -> dict[str, Any]:
    bundle = crisis_bundle()
    header = bundle["entry"][0]["resource"]
    header.setdefault("extension", []).append(
        {"url": SHARING_REQUEST_EXTENSION, "extension": parts}
    )
    return bundle


def _csc(request: dict[str, Any] | None, name: str = "child-status") -> CanonicalMessage:
    data: dict[str, Any] = orjson.loads((FIXTURES / "csc" / f"{name}.json").read_bytes())
    if request is not None:
        data["sharing_request"] = request
    return CscAdapter().parse(orjson.dumps(data), ParseContext("council-demo", RECEIVED))


def _conditions(agreements: list[Agreement], message: CanonicalMessage) -> Conditions:
    """The policy path ``decide_all`` runs for one recipient (the trust, RX9), for a council
    message, which declares no purpose: the flow's first purpose is taken."""
    subject = message.fact(message.subject) if message.subject else None
    decision = decide(
        agreements,
        sender=message.provenance.organisation,
        recipient="RX9",
        kind=message.kind,
        purpose=message.purpose,
    )
    return apply_conditions(
        decision,
        request=message.request,
        consents=[f for f in message.facts if isinstance(f, Consent)],
        subject_is_child=_is_child(subject, RECEIVED),
        at=RECEIVED,
    )


_KEYS = (
    "outcome",
    "reason_code",
    "flagged_for_review",
    "lawful_basis",
    "override_reason",
    "override_approver",
)


def _ledger_view(conditions: Conditions, message: CanonicalMessage) -> dict[str, Any]:
    """What the pipeline would record in ``disclosure.decided`` for these conditions."""
    decision = conditions.decision
    request = message.request
    override = request.override if request and decision.permitted else None
    return {
        "outcome": decision.outcome.value,
        "reason_code": decision.reason_code,
        "flagged_for_review": conditions.flagged_for_review,
        "lawful_basis": decision.lawful_basis.code if decision.lawful_basis else None,
        "override_reason": override.reason_code.value if override else None,
        "override_approver": override.approver if override else None,
    }


@pytest.mark.parametrize("case", sorted(REQUESTS))
async def test_a_csc_request_is_decided_as_the_same_fhir_request(
    case: str, aiohttp_client: Any, database: Database, tmp_path: Path
) -> None:
    """Para 18 permits on its basis; an override permits, flagged for IG review; a para 18
    request that does not say why consent was not sought is refused (para18-incomplete). The CSC
    request comes to the same decision as the FHIR one recorded in the ledger."""
    csc_request, fhir_parts = REQUESTS[case]
    directory = _agreements(tmp_path)
    async for h in start_harness(aiohttp_client, database, agreements_dir=directory):
        assert 202 == (await h.post_csc(child_status())).status
        response = await h.post_fhir(_fhir_crisis(fhir_parts))
        assert 202 == response.status, await response.text()
        decided = [e for e in await h.entries() if e["event"] == "disclosure.decided"]
        assert 1 == len(decided)
        fhir = {key: decided[0][key] for key in _KEYS}
        assert EXPECTED[case] == (fhir["outcome"], fhir["reason_code"], fhir["flagged_for_review"])

        # The CSC message with the same request: accepted at the council's door (it updates the
        # index; the pipeline does not route it yet) ...
        with_request = child_status() | {"sharing_request": csc_request}
        response = await h.post_csc(with_request)
        assert 202 == response.status, await response.text()
        assert (
            "child-status messages update the index only" == (await response.json())["no_recipient"]
        )
        # ... and decided on the policy path as the FHIR message was.
        message = _csc(csc_request)
        assert fhir == _ledger_view(_conditions(list(load_agreements(directory)), message), message)


async def test_a_bad_csc_request_is_refused_at_the_door(
    aiohttp_client: Any, database: Database
) -> None:
    """An unknown lawful basis code: 400, problem+json naming the element and the rule, never the
    value; nothing is decided."""
    async for h in start_harness(aiohttp_client, database):
        bad = child_status() | {"sharing_request": {"lawful_basis": "art6(1)(q)+sch1-para99"}}
        response = await h.post_csc(bad)
        assert 400 == response.status
        text = await response.text()
        assert "art6(1)(q)" not in text
        assert "sch1-para99" not in text
        assert "$.sharing_request.lawful_basis" in [
            e["element"] for e in orjson.loads(text)["errors"]
        ]
        assert [] == [e for e in await h.entries() if e["event"] == "disclosure.decided"]


def test_override_on_a_flow_that_does_not_allow_it_is_refused() -> None:
    """The shipped child-protection-status flow allows no override: refused, as for FHIR."""
    message = _csc(REQUESTS["override"][0])
    conditions = _conditions(list(SHIPPED), message)
    assert ("refuse", "override-not-allowed") == (
        conditions.decision.outcome.value,
        conditions.decision.reason_code,
    )


# -- third parties --------------------------------------------------------------------------------


def _flow(flow_id: str) -> Flow:
    return next(f for a in SHIPPED for f in a.flows if f.id == flow_id)


def _with_third_party() -> CanonicalMessage:
    data: dict[str, Any] = orjson.loads((FIXTURES / "csc" / "child-status.json").read_bytes())
    data["family"].append(
        {"relationship": "other", "nhs_number": THIRD_PARTY_NHS, "first_name": "Lee"}
    )
    return CscAdapter().parse(orjson.dumps(data), ParseContext("council-demo", RECEIVED))


def test_a_third_party_in_a_child_status_is_withheld_by_its_label() -> None:
    """child-status under the shipped child-protection-status flow: the child and the mother cross,
    the family member who is neither parent nor carer does not, withheld as sensitivity-label."""
    message = _with_third_party()
    decision = _conditions(list(SHIPPED), message).decision
    assert decision.permitted
    assert decision.flow is not None
    kept = minimise(message.facts, decision.flow)
    people = [f.id for f in kept.facts if isinstance(f, Person)]
    assert ["person-child", "person-family-0"] == people
    assert (
        THIRD_PARTY_NHS
        not in orjson.dumps([f.model_dump(mode="json") for f in kept.facts]).decode()
    )
    [item] = [w for w in kept.withheld if w.element == "person"]
    assert WithheldReason.SENSITIVITY_LABEL == item.reason_code
    assert "3RDPARTY" in item.reason


def test_a_flow_that_permits_third_parties_shares_them() -> None:
    """The same message under a flow that names 3RDPARTY in permit_labels: the person crosses."""
    flow = _flow("child-protection-status")
    permitting = flow.model_copy(update={"permit_labels": frozenset({Sensitivity.THIRDPARTY})})
    kept = minimise(_with_third_party().facts, permitting)
    assert "person-family-1" in [f.id for f in kept.facts]
    assert [] == [w for w in kept.withheld if w.reason_code is WithheldReason.SENSITIVITY_LABEL]


def test_an_invitees_person_not_named_as_a_parent_is_withheld() -> None:
    """meeting-invitation under conference-invitations: an invitee's person whose relationship to
    the child is not given is a third party; the meeting and the invited role still cross."""
    data: dict[str, Any] = orjson.loads((FIXTURES / "csc" / "meeting-invitation.json").read_bytes())
    del data["invitees"][0]["relationship"]
    message = CscAdapter().parse(orjson.dumps(data), ParseContext("council-demo", RECEIVED))
    kept = minimise(message.facts, _flow("conference-invitations"))
    ids = [f.id for f in kept.facts]
    assert "person-invitee-0" not in ids
    assert {"meeting-0", "worker-role-invitee-0"} <= set(ids)
    assert [("person", WithheldReason.SENSITIVITY_LABEL)] == [
        (w.element, w.reason_code)
        for w in kept.withheld
        if w.reason_code is WithheldReason.SENSITIVITY_LABEL
    ]
