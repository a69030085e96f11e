"""FHIR AuditEvent export (IHE BALP): built from entries the real pipeline wrote, validated with
fhir.resources R4B, the BALP-required elements asserted, and `joinedup audit export` recorded."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from fhir.resources.R4B.bundle import Bundle

from adapters.base import Adapter
from adapters.csc import CscAdapter
from adapters.fake import FakeAdapter
from gateway.audit.export_fhir import (
    AGREEMENT_SYSTEM,
    BALP_ENTITY_TYPE,
    CONSENT_SYSTEM,
    NOT_EXPORTED,
    PERSON_SYSTEM,
    PROFILE_AUTHZ_CONSENT,
    PROFILE_DISCLOSURE_SOURCE,
    REQUEST_ID_EXTENSION,
    audit_bundle,
)
from gateway.cli import main
from gateway.settings import bundled
from schemas.identifiers import DFE_LA_CODE_SYSTEM, ODS_CODE_SYSTEM
from schemas.labels import Purpose
from schemas.request import Override, OverrideReason, SharingRequest
from tests.conftest import THINK_FAMILY_AGREEMENT, Database
from tests.gateway_harness import Harness, child_status, start_harness
from tests.ledger_story import (
    CHILD_NHS,
    MOTHER_NHS,
    joinedup,
    share_and_refuse,
    use_database,
    wait_for_event,
)
from tests.test_consent_flow import _canonical, _full_refusal, _send

DCM = "http://dicom.nema.org/resources/ontology/DCM"
LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


def _resources(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Bundle validated as FHIR R4B, then its resources by id."""
    Bundle.model_validate(bundle)
    return {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}


def _agents(resource: dict[str, Any], system: str, code: str) -> list[dict[str, Any]]:
    return [
        a
        for a in resource["agent"]
        if any(c["system"] == system and c["code"] == code for c in a["type"]["coding"])
    ]


def _entities(resource: dict[str, Any], system: str, code: str) -> list[dict[str, Any]]:
    return [
        e
        for e in resource["entity"]
        if e.get("type", {}).get("system") == system and e["type"]["code"] == code
    ]


def _patient_ids(resource: dict[str, Any]) -> list[str]:
    patients = _entities(resource, "http://terminology.hl7.org/CodeSystem/audit-entity-type", "1")
    for p in patients:
        assert {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"} == {
            k: p["role"][k] for k in ("system", "code")
        }
        assert "Patient" == p["what"]["type"]
    return [p["what"]["identifier"]["value"] for p in patients if "identifier" in p["what"]]


def _details(entity: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for d in entity.get("detail", []):
        out.setdefault(d["type"], []).append(d["valueString"])
    return out


def _assert_authz(resource: dict[str, Any], outcome: str) -> dict[str, Any]:
    """BALP AuthZconsent's required elements; returns the agreement (consent) entity."""
    assert [PROFILE_AUTHZ_CONSENT] == resource["meta"]["profile"]
    assert (DCM, "110113") == (resource["type"]["system"], resource["type"]["code"])
    assert ["AuthZ-Consent"] == [s["code"] for s in resource["subtype"]]
    assert ("E", outcome) == (resource["action"], resource["outcome"])
    assert resource["recorded"]
    client = _agents(resource, DCM, "110150")
    user = _agents(resource, "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP")
    userorg = _agents(resource, "http://terminology.hl7.org/CodeSystem/v3-RoleClass", "PROV")
    authorizer = _agents(
        resource, "http://terminology.hl7.org/CodeSystem/extra-security-role-type", "authserver"
    )
    assert [1, 1, 1, 1] == [len(client), len(user), len(userorg), len(authorizer)]
    assert client[0]["network"]["address"]
    assert (True, False, False) == (
        user[0]["requestor"],
        userorg[0]["requestor"],
        authorizer[0]["requestor"],
    )
    # val-audit-source: the authoriser is the audit source.
    assert authorizer[0]["who"] == resource["source"]["observer"]
    # Entity slicing is closed: one patient, one or more consents, nothing else.
    patients = _entities(resource, "http://terminology.hl7.org/CodeSystem/audit-entity-type", "1")
    consents = _entities(resource, "http://hl7.org/fhir/resource-types", "Consent")
    assert (1, len(resource["entity"])) == (len(patients), 1 + len(consents))
    assert consents
    assert all(c["what"] for c in consents)
    (agreement,) = [c for c in consents if c.get("detail")]
    return agreement


async def test_a_share_and_a_refusal_as_balp_audit_events(h: Harness) -> None:
    """A permit becomes a Privacy Disclosure and an AuthZconsent; a refusal an AuthZconsent;
    every resource validates as R4B and carries what BALP requires, and no NHS number."""
    story = await share_and_refuse(h)
    bundle = audit_bundle(story.entries, gateway_name="test-gateway")
    resources = _resources(bundle)
    assert "collection" == bundle["type"]
    text = orjson.dumps(bundle).decode()
    assert MOTHER_NHS not in text
    assert CHILD_NHS not in text

    # The share: a Privacy Disclosure at the source.
    disclosure = resources[f"ledger-{story.permit['seq']}-disclosure"]
    assert [PROFILE_DISCLOSURE_SOURCE] == disclosure["meta"]["profile"]
    assert (DCM, "110106", "R", "0") == (
        disclosure["type"]["system"],
        disclosure["type"]["code"],
        disclosure["action"],
        disclosure["outcome"],
    )
    assert {"system": LIFECYCLE, "code": "disclose"} == {
        k: disclosure["subtype"][0][k] for k in ("system", "code")
    }
    act_reason = Purpose(story.permit["purpose"]).hl7_act_reason
    assert {"system": ACT_REASON, "code": act_reason} in disclosure["purposeOfEvent"][0]["coding"]
    (source,) = _agents(disclosure, DCM, "110153")
    (recipient,) = _agents(disclosure, DCM, "110152")
    assert {"system": ODS_CODE_SYSTEM, "value": "RX9"} == source["who"]["identifier"]
    assert {"system": DFE_LA_CODE_SYSTEM, "value": "999"} == recipient["who"]["identifier"]
    assert source["network"]["address"]
    assert recipient["network"]["address"]
    assert source["who"] == disclosure["source"]["observer"]  # val-audit-source
    # The subject is the one BALP patient, by surrogate id; the child is named too.
    assert [story.subject] == _patient_ids(disclosure)
    named = {e["what"]["identifier"]["value"] for e in disclosure["entity"] if "what" in e}
    assert story.child in named
    assert all(
        e["what"]["identifier"]["system"] == PERSON_SYSTEM
        for e in disclosure["entity"]
        if e["what"].get("type") == "Patient"
    )
    (request,) = _entities(disclosure, BALP_ENTITY_TYPE, "XrequestId")
    assert story.request_id == request["what"]["identifier"]["value"]
    assert len(disclosure["entity"]) >= 2

    # Every decision: AuthZconsent with the agreement, version and basis.
    permit = resources[f"ledger-{story.permit['seq']}-authz"]
    agreement = _assert_authz(permit, "0")
    assert {"system": AGREEMENT_SYSTEM, "value": "demo-trust-council"} == agreement["what"][
        "identifier"
    ]
    details = _details(agreement)
    assert (["1"], [story.permit["lawful_basis"]], ["crisis-notice"]) == (
        details["agreement-version"],
        details["lawful-basis"],
        details["flow"],
    )
    assert "diagnosis:sensitivity-label" in details["withheld"]
    assert {"url": REQUEST_ID_EXTENSION, "valueIdentifier": {"value": story.request_id}} in permit[
        "extension"
    ]
    assert [story.subject] == _patient_ids(permit)

    refusal = resources[f"ledger-{story.refusal['seq']}-authz"]
    agreement = _assert_authz(refusal, "8")
    assert ["no-agreement"] == _details(agreement)["reason-code"]
    assert f"ledger-{story.refusal['seq']}-disclosure" not in resources

    # Other entries: the look-up is a decision too; the delivery and receipt are exported;
    # counts-only entries are not.
    lookups = [e for e in story.entries if e["event"] == "lookup.decided"]
    for lookup in lookups:
        outcome = {"permit": "0", "refuse": "8"}[lookup["outcome"]]
        _assert_authz(resources[f"ledger-{lookup['seq']}-authz"], outcome)
    (answered,) = [e for e in lookups if e["outcome"] == "permit"]
    assert [story.child] == _patient_ids(resources[f"ledger-{answered['seq']}-authz"])
    delivery = next(e for e in story.entries if e["event"] == "delivery.attempted")
    sent = resources[f"ledger-{delivery['seq']}-delivery"]
    assert ("transmit", "0") == (sent["subtype"][0]["code"], sent["outcome"])
    assert story.subject in _patient_ids(sent)
    for entry in story.entries:
        ids = [i for i in resources if i.startswith(f"ledger-{entry['seq']}-")]
        assert (entry["event"] in NOT_EXPORTED) == (not ids), entry["event"]


@pytest.fixture
def override_agreements(tmp_path: Path) -> Path:
    """The shipped agreements, with the crisis flow honouring refusals and allowing overrides."""
    directory = tmp_path / "agreements"
    # Without the think-family agreement, as agreements_for_tests (tests/conftest.py).
    shutil.copytree(
        bundled("agreements"), directory, ignore=shutil.ignore_patterns(THINK_FAMILY_AGREEMENT)
    )
    path = directory / "demo-trust-council.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for flow in document["flows"]:
        if flow["id"] == "crisis-notice":
            flow["consent"] = "honour-refusal"
            flow["allow_override"] = True
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return directory


async def test_consent_refusal_and_override_are_in_the_authorisation_decision(
    aiohttp_client: Any, database: Database, override_agreements: Path
) -> None:
    """A refusal on a consent directive names the directive; an urgent override that shares
    anyway names its reason and approver and is flagged; neither carries record content."""
    adapters: dict[str, Adapter] = {"fhir-r4": FakeAdapter("fhir-r4"), "csc": CscAdapter()}
    async for h in start_harness(
        aiohttp_client, database, adapters=adapters, agreements_dir=override_agreements
    ):
        assert 202 == (await h.post_csc(child_status())).status
        await _send(h, _full_refusal())
        crisis = _canonical("crisis-s136.json")
        await _send(h, crisis)
        override = Override(
            reason_code=OverrideReason.IMMINENT_RISK_TO_CHILD,
            justification="Child at immediate risk tonight; the usual route cannot wait.",
            approver="Duty team manager",
        )
        await _send(h, crisis.model_copy(update={"request": SharingRequest(override=override)}))
        entries = await wait_for_event(h, "disclosure.decided", 3)
        # The refusal directive itself is passed on to the council first (its own flow).
        refused, shared = [
            e for e in entries if e["event"] == "disclosure.decided" and e["kind"] == "crisis-event"
        ]
        assert ("refuse", "permit") == (refused["outcome"], shared["outcome"])

        resources = _resources(audit_bundle(entries))
        for entry, outcome in ((refused, "8"), (shared, "0")):
            resource = resources[f"ledger-{entry['seq']}-authz"]
            agreement = _assert_authz(resource, outcome)
            directive = [
                e for e in resource["entity"] if e["what"].get("identifier", {}).get("system")
            ]
            assert {"system": CONSENT_SYSTEM, "value": entry["consent_ref"]} in [
                d["what"]["identifier"] for d in directive
            ]
            if entry is shared:
                details = _details(agreement)
                assert (["imminent-risk-to-child"], ["Duty team manager"], ["true"]) == (
                    details["override-reason"],
                    details["override-approver"],
                    details["flagged-for-review"],
                )
        text = orjson.dumps(resources).decode()
        assert "the usual route cannot wait" not in text  # the justification is not recorded
        assert MOTHER_NHS not in text


async def test_joinedup_audit_export_fhir_for_one_person_is_recorded(
    h: Harness,
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    """`joinedup audit export --format fhir --person ID` writes a valid Bundle of that person's
    entries (with the delivery of their share) and records the export in the ledger."""
    story = await share_and_refuse(h)
    use_database(monkeypatch, database)
    out = tmp_path / "child.json"
    assert 0 == await joinedup(
        "audit", "export", "--format", "fhir", "--person", story.child, "--out", str(out)
    )
    resources = _resources(orjson.loads(out.read_bytes()))
    seqs = {int(r["id"].split("-")[1]) for r in resources.values()}
    mine = {e["seq"] for e in story.entries if story.child in e.get("person_ids", ())}
    delivery = {e["seq"] for e in story.entries if e["event"] == "delivery.attempted"}
    exported = {e["seq"] for e in story.entries if e["event"] not in NOT_EXPORTED}
    assert (mine | delivery) & exported == seqs
    # The sender is named by its organisation code, read from the exchange's receipt.
    disclosure = resources[f"ledger-{story.permit['seq']}-disclosure"]
    assert "RX9" == _agents(disclosure, DCM, "110153")[0]["who"]["identifier"]["value"]

    viewed = (await h.entries())[-1]
    assert ("record.viewed", "cli", "export", [story.child]) == (
        viewed["event"],
        viewed["viewer"],
        viewed["view"],
        viewed["person_ids"],
    )
    assert sorted(mine | delivery) == viewed["seqs"]
    assert "recorded as ledger entry" in capsys.readouterr().err
    assert (await h.verify()).intact
    # The export itself now shows in that person's entries.
    assert 0 == await joinedup(
        "audit",
        "export",
        "--format",
        "fhir",
        "--person",
        story.child,
        "--out",
        str(tmp_path / "again.json"),
    )
    again = _resources(orjson.loads((tmp_path / "again.json").read_bytes()))
    assert f"ledger-{viewed['seq']}-viewed" in again


def test_bad_arguments_are_refused_without_echoing_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A person given as an NHS number, a malformed date, or --from after --to: exit 2, and the
    value is not repeated back."""
    for argv, message in (
        (["--person", MOTHER_NHS], "not a person id"),
        (["--from", "30/11/2026"], "not a date"),
        (["--to", "2026-02-30"], "not a calendar date"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(["audit", "export", "--format", "fhir", *argv])
        assert 2 == exit_.value.code
        err = capsys.readouterr().err
        assert message in err
        assert argv[1] not in err
    assert 2 == main(
        ["audit", "export", "--format", "csv", "--from", "2026-11-30", "--to", "2026-11-01"]
    )
    assert "--from is after --to" in capsys.readouterr().err
    existing = tmp_path / "exists.csv"
    existing.write_text("keep me", encoding="utf-8")
    assert 2 == main(["audit", "export", "--format", "csv", "--out", str(existing)])
    assert "keep me" == existing.read_text(encoding="utf-8")
