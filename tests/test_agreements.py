"""Agreement files: every problem class reported with its file, line and reason; the CLI."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.policy import agreements as checker
from gateway.policy.agreements import check_agreements, check_directory, load_agreements
from gateway.settings import Settings, bundled
from schemas.agreement import ELEMENT_PRESETS, FREE_TEXT_ELEMENTS
from schemas.labels import _PURPOSE_TO_HL7, Purpose
from schemas.message import MessageKind

# Line numbers below are this text's.
BASE = """\
id: base
version: 1
title: Test agreement
parties:
  - code: RX9
    partner: trust-demo
    name: Trust
  - code: "999"
    partner: council-demo
    name: Council
flows:
  - id: crisis
    from: RX9
    to: "999"
    message_kinds: [crisis-event]
    purposes: [crisis-response]
    lawful_bases:
      - art6: "6(1)(e)"
        art9: "9(2)(h)"
        dpa2018: sch1-para2
    preset: crisis-notice
  - id: contact
    from: "999"
    to: RX9
    message_kinds: [worker-contact]
    purposes: [care-coordination]
    lawful_bases:
      - art6: "6(1)(e)"
    preset: worker-contact
"""

DEMO_PARTNERS = {"trust-demo": ("RX9",), "council-demo": ("999",)}


def _edit(text: str, old: str, new: str) -> str:
    assert 1 == text.count(old), old
    return text.replace(old, new)


def _write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def _problems(directory: Path, partners: Mapping[str, Collection[str]] | None = None) -> list[str]:
    _, problems = check_agreements(directory, partners=partners)
    return [str(p).removeprefix(f"{directory}/") for p in problems]


def _one(tmp_path: Path, old: str, new: str) -> list[str]:
    _write(tmp_path, "a.yaml", _edit(BASE, old, new))
    return _problems(tmp_path)


def test_the_base_fixture_is_valid(tmp_path: Path) -> None:
    """The text the other tests break is itself valid, with no warnings."""
    _write(tmp_path, "a.yaml", BASE)
    assert [] == _problems(tmp_path, partners=DEMO_PARTNERS)
    assert ["base"] == [a.id for a in load_agreements(tmp_path)]


# --- Form: codes, fields, types, YAML -----------------------------------------------------------


def test_unknown_lawful_basis(tmp_path: Path) -> None:
    """An Art 6 code that does not exist names the line, the code and the known ones."""
    assert [
        "a.yaml:18: flow 'crisis': lawful_bases[0].art6: unknown UK GDPR Art 6(1) lawful basis "
        "'6(1)(f)' (known: 6(1)(a), 6(1)(c), 6(1)(d), 6(1)(e))"
    ] == _one(tmp_path, 'art6: "6(1)(e)"\n        art9', 'art6: "6(1)(f)"\n        art9')


def test_unknown_art9_and_schedule_1_codes(tmp_path: Path) -> None:
    """Art 9 and DPA 2018 Schedule 1 codes are checked the same way."""
    text = _edit(BASE, 'art9: "9(2)(h)"', 'art9: "9(2)(z)"')
    _write(tmp_path, "a.yaml", _edit(text, "dpa2018: sch1-para2", "dpa2018: sch1-para99"))
    assert [
        "a.yaml:19: flow 'crisis': lawful_bases[0].art9: unknown UK GDPR Art 9(2) condition "
        "'9(2)(z)' (known: 9(2)(b), 9(2)(g), 9(2)(h))",
        "a.yaml:20: flow 'crisis': lawful_bases[0].dpa2018: unknown DPA 2018 Schedule 1 "
        "condition 'sch1-para99' (known: sch1-para2, sch1-para18)",
    ] == _problems(tmp_path)


def test_unknown_purpose_names_the_mappings(tmp_path: Path) -> None:
    """A purpose with no local code (so no HL7 mapping) is refused, listing the mapped ones."""
    assert [
        "a.yaml:16: flow 'crisis': purposes[1]: unknown purpose 'safeguarding-adult'; purposes "
        "are local codes, each mapped to an HL7 v3-ActReason code (known: safeguarding-child "
        "(HL7 THREAT), child-protection-conference (HL7 COC), care-coordination (HL7 COC), "
        "crisis-response (HL7 ETREAT), referral (HL7 COC))"
    ] == _one(
        tmp_path, "purposes: [crisis-response]", "purposes: [crisis-response, safeguarding-adult]"
    )


def test_purpose_without_hl7_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local purpose whose HL7 v3-ActReason mapping is missing is a problem on its line."""
    monkeypatch.delitem(_PURPOSE_TO_HL7, Purpose.CRISIS_RESPONSE)
    _write(tmp_path, "a.yaml", BASE)
    assert [
        "a.yaml:16: flow 'crisis': purpose 'crisis-response' has no HL7 v3-ActReason mapping"
    ] == _problems(tmp_path)


def test_unknown_message_kind(tmp_path: Path) -> None:
    """A message kind the gateway does not know."""
    problems = _one(tmp_path, "[crisis-event]", "[crisis-event, crisis]")
    assert 1 == len(problems)
    assert problems[0].startswith(
        "a.yaml:15: flow 'crisis': message_kinds[1]: unknown message kind 'crisis' (known: "
        "crisis-event, referral,"
    )


def test_unknown_label_and_obligation(tmp_path: Path) -> None:
    """Security labels and obligations are codes too."""
    _write(
        tmp_path,
        "a.yaml",
        _edit(
            BASE,
            "    preset: crisis-notice\n",
            "    preset: crisis-notice\n    exclude_labels: [PSY, REFUGE]\n"
            "    obligations: [NOREDISCLOSE]\n",
        ),
    )
    labels = "PSY, MH, BH, PSYTHPN, SDV, ETH, SUD, VIO, LIVARG, PATLOC, 3RDPARTY"
    assert [
        f"a.yaml:22: flow 'crisis': exclude_labels[1]: unknown security label 'REFUGE' "
        f"(known: {labels})",
        "a.yaml:23: flow 'crisis': obligations[0]: unknown obligation 'NOREDISCLOSE' "
        "(known: REDACT, MASK, NORDSCLCD, DELAU)",
    ] == _problems(tmp_path)


def test_unknown_field_suggests_the_known_one(tmp_path: Path) -> None:
    """A misspelt field is reported where it is, with the field it probably meant."""
    assert [
        "a.yaml:21: flow 'crisis': presets: unknown field 'presets' (did you mean 'preset'?)"
    ] == _one(tmp_path, "preset: crisis-notice", "presets: crisis-notice")


def test_missing_field(tmp_path: Path) -> None:
    """A missing required field is reported on its mapping's line."""
    assert ["a.yaml:22: flow 'contact': purposes: missing (required)"] == _one(
        tmp_path, "    purposes: [care-coordination]\n", ""
    )


def test_unquoted_code_read_as_a_number(tmp_path: Path) -> None:
    """`to: 999` is a YAML number: the message says to quote it."""
    assert [
        "a.yaml:14: flow 'crisis': to: must be text, but YAML read 999 as a number; put it in "
        "quotes"
    ] == _one(tmp_path, 'to: "999"', "to: 999")


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    """YAML keeps the last of two equal keys silently; the check does not."""
    assert [
        "a.yaml:17: key 'purposes' appears twice in one mapping (also line 16); YAML would "
        "silently keep only the last"
    ] == _one(
        tmp_path,
        "    purposes: [crisis-response]\n",
        "    purposes: [crisis-response]\n    purposes: [referral]\n",
    )


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    """A syntax error names its line; a file holding a list is not an agreement."""
    _write(tmp_path, "a.yaml", "id: a\nflows: [unclosed\n")
    _write(tmp_path, "b.yaml", "- id: a\n")
    problems = _problems(tmp_path)
    assert problems[0].startswith("a.yaml:3: not valid YAML: ")
    assert [
        "b.yaml:1: an agreement file holds one mapping (id, version, title, parties, flows)"
    ] == (problems[1:])


# --- Structure --------------------------------------------------------------------------------


def test_flow_end_not_a_party(tmp_path: Path) -> None:
    """A flow to an organisation that did not sign the agreement."""
    assert [
        "a.yaml:14: flow 'crisis': to: '998' is not a party to this agreement (parties: RX9, 999)"
    ] == _one(tmp_path, 'to: "999"', 'to: "998"')


def test_flow_to_itself(tmp_path: Path) -> None:
    """A flow runs between two different parties."""
    assert ["a.yaml:14: flow 'crisis': from and to are the same party"] == _one(
        tmp_path, 'to: "999"', "to: RX9"
    )


def test_duplicate_flow_id(tmp_path: Path) -> None:
    """Flow ids are unique within an agreement."""
    assert ["a.yaml:22: flow id 'crisis' used twice (also line 12)"] == _one(
        tmp_path, "- id: contact", "- id: crisis"
    )


def test_duplicate_party(tmp_path: Path) -> None:
    """A party listed twice (and so the flows to the other organisation have no party)."""
    assert [
        "a.yaml:8: parties[1]: party 'RX9' listed twice",
        "a.yaml:14: flow 'crisis': to: '999' is not a party to this agreement (parties: RX9)",
        "a.yaml:23: flow 'contact': from: '999' is not a party to this agreement (parties: RX9)",
    ] == _one(tmp_path, '- code: "999"', "- code: RX9")


def test_unknown_preset(tmp_path: Path) -> None:
    """An unknown preset is reported on the preset's line."""
    problems = _one(tmp_path, "preset: worker-contact", "preset: everything")
    assert 1 == len(problems)
    assert problems[0].startswith("a.yaml:29: flow 'contact': unknown preset 'everything' (known:")


def test_element_paths_name_fact_classes_and_fields(tmp_path: Path) -> None:
    """Each element names a fact class and one of its fields (or *), on its own line."""
    problems = _one(
        tmp_path,
        "    preset: worker-contact\n",
        "    preset: worker-contact\n    elements:\n      - worker.nme\n      - carer.*\n"
        "      - person\n      - person.*\n",
    )
    assert 3 == len(problems)
    assert problems[0].startswith("a.yaml:31: flow 'contact': element 'worker.nme': worker has no")
    assert (
        "fields: local_id, name, professional_registration, registration, telecom" in (problems[0])
    )
    assert problems[1].startswith(
        "a.yaml:32: flow 'contact': element 'carer.*' names an unknown fact class 'carer' (known:"
    )
    assert (
        "a.yaml:33: flow 'contact': element 'person' is not <fact>.<field> or <fact>.*"
        == (problems[2])
    )


def test_presets_name_known_elements_and_no_free_text() -> None:
    """Every preset path is valid, and free text is never reached through a preset."""
    for name, paths in ELEMENT_PRESETS.items():
        assert [] == [p for p in paths if checker._element_problem(p)], name
        assert [] == [p for p in paths if p in FREE_TEXT_ELEMENTS], name
    assert all(checker._element_problem(p) is None for p in FREE_TEXT_ELEMENTS)


# --- Lawful bases -----------------------------------------------------------------------------


def test_health_data_needs_an_art9_condition(tmp_path: Path) -> None:
    """A crisis-event flow (health data) whose basis has no Art 9(2) condition."""
    assert [
        "a.yaml:18: flow 'crisis': lawful_bases[0] (art6(1)(e)): the flow can carry health data "
        "(message kind crisis-event, crisis-event elements, mental-health-episode elements), so "
        "every lawful basis names a UK GDPR Art 9(2) condition (art9: 9(2)(h), 9(2)(g) or 9(2)(b))"
    ] == _one(
        tmp_path,
        '      - art6: "6(1)(e)"\n        art9: "9(2)(h)"\n        dpa2018: sch1-para2\n',
        '      - art6: "6(1)(e)"\n',
    )


def test_health_elements_alone_need_art9(tmp_path: Path) -> None:
    """A worker-contact flow that also names risk elements carries health data."""
    assert [
        "a.yaml:28: flow 'contact': lawful_bases[0] (art6(1)(e)): the flow can carry health data "
        "(risk elements), so every lawful basis names a UK GDPR Art 9(2) condition (art9: "
        "9(2)(h), 9(2)(g) or 9(2)(b))"
    ] == _one(
        tmp_path,
        "    preset: worker-contact\n",
        "    preset: worker-contact\n    elements: [risk.subject, risk.summary]\n",
    )


def test_art9_goes_with_its_schedule_1_condition(tmp_path: Path) -> None:
    """9(2)(h) needs sch1-para2; sch1-para2 alone needs 9(2)(h)."""
    assert [
        "a.yaml:18: flow 'crisis': lawful_bases[0] (art6(1)(e)+art9(2)(h)): Art 9(2)(h) goes "
        "with dpa2018: sch1-para2"
    ] == _one(tmp_path, "        dpa2018: sch1-para2\n", "")
    problems = _one(
        tmp_path,
        'lawful_bases:\n      - art6: "6(1)(e)"\n    preset: worker',
        'lawful_bases:\n      - art6: "6(1)(e)"\n        dpa2018: sch1-para2\n    preset: worker',
    )
    assert [
        "a.yaml:28: flow 'contact': lawful_bases[0] (art6(1)(e)+sch1-para2): a DPA 2018 Schedule "
        "1 condition (sch1-para2) needs its Art 9(2) condition (art9: 9(2)(h))"
    ] == problems


def test_para18_declares_its_age_band_on_the_flow(tmp_path: Path) -> None:
    """Sch 1 para 18 names whom it protects; the reason for not seeking consent is per request."""
    para18 = (
        '      - art6: "6(1)(e)"\n        art9: "9(2)(g)"\n        dpa2018: sch1-para18\n'
        "        no_consent_reason: cannot-be-given\n"
    )
    _write(
        tmp_path,
        "a.yaml",
        _edit(BASE, "        dpa2018: sch1-para2\n", "        dpa2018: sch1-para2\n" + para18),
    )
    where = "a.yaml:21: flow 'crisis': lawful_bases[1] (art6(1)(e)+art9(2)(g)+sch1-para18)"
    assert [
        f"{where}: sch1-para18 protects children or adults at risk: declare which (age_band: "
        "child or adult-at-risk); each request names the same age band",
        f"{where}: no_consent_reason is decided case by case, so each request names it; an "
        "agreement cannot settle it in advance",
    ] == _problems(tmp_path)


def test_age_band_only_with_para18(tmp_path: Path) -> None:
    """An age band on another basis means nothing, so it is an error."""
    assert [
        "a.yaml:18: flow 'crisis': lawful_bases[0] (art6(1)(e)+art9(2)(h)+sch1-para2): age_band "
        "only applies to sch1-para18"
    ] == _one(
        tmp_path,
        "        dpa2018: sch1-para2\n",
        "        dpa2018: sch1-para2\n        age_band: child\n",
    )


def test_consent_bases_and_rules_agree(tmp_path: Path) -> None:
    """Art 6(1)(a) needs `consent: required`; para 18 (without consent) cannot have it."""
    assert [
        "a.yaml:28: flow 'contact': lawful_bases[0] (art6(1)(a)): Art 6(1)(a) consent as the "
        "lawful basis needs 'consent: required' (the flow says 'not-required')"
    ] == _one(tmp_path, '- art6: "6(1)(e)"\n    preset', '- art6: "6(1)(a)"\n    preset')
    para18 = (
        '      - art6: "6(1)(e)"\n        art9: "9(2)(g)"\n        dpa2018: sch1-para18\n'
        "        age_band: child\n    consent: required\n"
    )
    _write(
        tmp_path,
        "a.yaml",
        _edit(BASE, "        dpa2018: sch1-para2\n", "        dpa2018: sch1-para2\n" + para18),
    )
    assert [
        "a.yaml:21: flow 'crisis': lawful_bases[1] (art6(1)(e)+art9(2)(g)+sch1-para18): "
        "sch1-para18 is for sharing without consent, but the flow's consent rule is 'required'"
    ] == _problems(tmp_path)


def test_legal_obligation_names_its_law(tmp_path: Path) -> None:
    """Art 6(1)(c) names the statutory gateway imposing the obligation."""
    assert [
        "a.yaml:28: flow 'contact': lawful_bases[0] (art6(1)(c)): Art 6(1)(c) legal obligation "
        "names the law that imposes it (statutory_gateway)"
    ] == _one(tmp_path, '- art6: "6(1)(e)"\n    preset', '- art6: "6(1)(c)"\n    preset')
    assert [] == _one(
        tmp_path,
        '- art6: "6(1)(e)"\n    preset',
        '- art6: "6(1)(c)"\n        statutory_gateway: Children Act 2004 s16LA\n    preset',
    )


def test_redisclosure_and_labels_do_not_contradict(tmp_path: Path) -> None:
    """Redisclosure against NORDSCLCD; a label both permitted and excluded."""
    assert [
        "a.yaml:30: flow 'contact': label(s) SDV both permitted and excluded",
        "a.yaml:32: flow 'contact': redisclosure: true contradicts the NORDSCLCD obligation (no "
        "redisclosure without consent); list the obligations that apply instead",
    ] == _one(
        tmp_path,
        "    preset: worker-contact\n",
        "    preset: worker-contact\n    permit_labels: [SDV]\n    exclude_labels: [SDV]\n"
        "    redisclosure: true\n",
    )


# --- Warnings ---------------------------------------------------------------------------------


def test_facts_that_can_never_cross_are_warned_about(tmp_path: Path) -> None:
    """`risk.*` never reaches the free-text summary a risk needs: a warning, not an error."""
    path = _write(
        tmp_path,
        "a.yaml",
        _edit(
            BASE,
            "    preset: crisis-notice\n",
            "    preset: crisis-notice\n    elements: [risk.*]\n    permit_labels: [VIO]\n",
        ),
    )
    assert [
        "a.yaml:22: warning: flow 'crisis': names risk elements but not risk.summary, without "
        "which a risk cannot be sent, so no risk will ever cross (free text is never reached by "
        "risk.*: name it)",
        "a.yaml:23: warning: flow 'crisis': VIO is not a sensitive label: it crosses unless "
        "excluded, so permitting it changes nothing",
    ] == _problems(tmp_path)
    assert ["base"] == [a.id for a in load_agreements(path.parent)]


def test_partners_are_checked_only_when_given(tmp_path: Path) -> None:
    """With partner settings, an unknown partner or one not speaking for the party is a warning."""
    text = _edit(BASE, "partner: council-demo", "partner: council-other")
    _write(tmp_path, "a.yaml", _edit(text, "partner: trust-demo", "partner: trust-live"))
    assert [] == _problems(tmp_path)
    partners = {**DEMO_PARTNERS, "council-other": ("998",)}
    assert [
        "a.yaml:6: warning: parties[0]: partner 'trust-live' is not configured",
        "a.yaml:9: warning: parties[1]: partner 'council-other' does not speak for "
        "organisation '999'",
    ] == _problems(tmp_path, partners=partners)


# --- Across files -----------------------------------------------------------------------------


def test_id_and_version_are_unique(tmp_path: Path) -> None:
    """Two files with the same id and version; the same id at another version is allowed."""
    _write(tmp_path, "a.yaml", BASE)
    _write(tmp_path, "b.yaml", BASE)
    _write(tmp_path, "c.yaml", _edit(BASE, "version: 1", "version: 2"))
    agreements, problems = check_agreements(tmp_path)
    assert [
        f"{tmp_path}/b.yaml:1: agreement 'base' version 1 is also defined in {tmp_path}/a.yaml:1;"
        " an id and version name one text"
    ] == [str(p) for p in problems]
    assert [("base", 1), ("base", 2)] == [(a.id, a.version) for a in agreements]


def test_contradicting_overlapping_flows_name_both_files(tmp_path: Path) -> None:
    """Same sender, recipient, kind and purpose with other bases and elements, in two files."""
    _write(tmp_path, "a.yaml", BASE)
    other = _edit(BASE, "id: base", "id: other")
    other = _edit(other, "preset: crisis-notice", "preset: crisis-notice\n    consent: required")
    _write(tmp_path, "b.yaml", other)
    assert [
        "b.yaml:12: flow 'crisis' (other v1) contradicts flow 'crisis' (base v1, "
        f"{tmp_path}/a.yaml:12): both cover crisis-event messages from RX9 to 999 for "
        "crisis-response, but their consent rule differ, so the decision would depend on which "
        "is found first"
    ] == _problems(tmp_path)


def test_contradicting_flows_within_one_agreement(tmp_path: Path) -> None:
    """Two flows of one agreement covering the same kind and purpose differently."""
    extra = (
        '  - id: crisis-too\n    from: RX9\n    to: "999"\n'
        "    message_kinds: [crisis-event, referral]\n    purposes: [crisis-response]\n"
        '    lawful_bases:\n      - art6: "6(1)(e)"\n        art9: "9(2)(g)"\n'
        "        dpa2018: sch1-para18\n        age_band: child\n    preset: worker-contact\n"
    )
    _write(tmp_path, "a.yaml", BASE + extra)
    assert [
        "a.yaml:30: flow 'crisis-too' (base v1) contradicts flow 'crisis' (base v1, "
        f"{tmp_path}/a.yaml:12): both cover crisis-event messages from RX9 to 999 for "
        "crisis-response, but their lawful bases and elements differ, so the decision would "
        "depend on which is found first"
    ] == _problems(tmp_path)


def test_identical_or_distinct_flows_do_not_contradict(tmp_path: Path) -> None:
    """The same flow in two agreements agrees with itself; another purpose is no overlap."""
    _write(tmp_path, "a.yaml", BASE)
    _write(tmp_path, "b.yaml", _edit(BASE, "id: base", "id: same"))
    text = _edit(BASE, "id: base", "id: other")
    text = _edit(text, "[crisis-response]", "[safeguarding-child]")
    _write(tmp_path, "c.yaml", _edit(text, "preset: crisis-notice", "preset: child-status"))
    assert [] == _problems(tmp_path)


def test_a_broken_directory_lists_every_problem(tmp_path: Path) -> None:
    """Problems of several kinds in several files are all reported, file by file, by line."""
    _write(tmp_path, "a.yaml", _edit(BASE, 'to: "999"', 'to: "998"'))
    _write(
        tmp_path,
        "b.yaml",
        _edit(BASE, 'art6: "6(1)(e)"\n    preset', 'art6: "6(1)(x)"\n    preset'),
    )
    _write(tmp_path, "c.yaml", "id: [unclosed\n")
    problems = _problems(tmp_path)
    assert 3 == len(problems)
    assert problems[0].startswith("a.yaml:14: flow 'crisis': to: '998' is not a party")
    assert problems[1].startswith("b.yaml:28: flow 'contact': lawful_bases[0].art6: unknown")
    assert problems[2].startswith("c.yaml:2: not valid YAML")


def test_missing_directory(tmp_path: Path) -> None:
    """A directory that does not exist is one problem."""
    assert [f"{tmp_path}/nowhere: agreements directory does not exist"] == [
        str(p) for p in check_directory(tmp_path / "nowhere").problems
    ]


# --- The shipped agreements -------------------------------------------------------------------


def test_shipped_agreements_are_valid_without_warnings() -> None:
    """deploy/agreements passes every check, against the demo partners too."""
    settings = Settings()
    partners = {p.id: p.organisations for p in settings.partners}
    checked = check_directory(bundled("agreements"), partners=partners)
    # Every shipped file is one valid agreement (the main one and the workflows' examples).
    assert ((), len(checked.files)) == (checked.problems, len(checked.agreements))
    assert "demo-trust-council" in {a.id for a in checked.agreements}


def test_shipped_agreements_cover_every_shipped_flow() -> None:
    """A flow for every kind the gateway ships between the demo trust and council."""
    agreements = load_agreements(bundled("agreements"))
    (agreement,) = [a for a in agreements if a.id == "demo-trust-council"]
    covered = {(f.from_, f.to, k) for f in agreement.flows for k in f.message_kinds}
    trust_sends = ["crisis-event", "referral", "meeting-invitation", "meeting-reply"]
    trust_sends += ["worker-contact", "consent-directive"]
    council_sends = ["meeting-invitation", "icpc-scheduled", "meeting-reply", "child-status"]
    council_sends += ["cp-plan-started", "cp-plan-ended", "allocated-worker-changed"]
    council_sends += ["referral-status", "worker-contact", "consent-directive"]
    expected = {("RX9", "999", MessageKind(k)) for k in trust_sends} | {
        ("999", "RX9", MessageKind(k)) for k in council_sends
    }
    assert expected == covered


# --- The commands -----------------------------------------------------------------------------


def test_check_command_on_the_shipped_agreements(capsys: pytest.CaptureFixture[str]) -> None:
    """`joinedup agreements check` (the configured directory) exits 0 with its summary."""
    assert 0 == main(["agreements", "check"])
    shipped = load_agreements(bundled("agreements"))
    files, flows = len(shipped), sum(len(a.flows) for a in shipped)
    assert (
        f"{files} file(s), {files} valid agreement(s) with {flows} flow(s): 0 problem(s), "
        "0 warning(s)\n"
    ) == capsys.readouterr().out


def test_check_command_on_a_broken_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 1, every problem one per line, then the summary."""
    _write(tmp_path, "a.yaml", _edit(BASE, 'to: "999"', 'to: "998"'))
    _write(tmp_path, "b.yaml", _edit(BASE, "version: 1", "version: 0"))
    _write(tmp_path, "c.yaml", _edit(BASE, "id: base", "id: c"))
    assert 1 == main(["agreements", "check", str(tmp_path)])
    assert [
        f"{tmp_path}/a.yaml:14: flow 'crisis': to: '998' is not a party to this agreement "
        "(parties: RX9, 999)",
        f"{tmp_path}/b.yaml:2: version: Input should be greater than or equal to 1",
        "3 file(s), 1 valid agreement(s) with 2 flow(s): 2 problem(s), 0 warning(s)",
    ] == capsys.readouterr().out.splitlines()


def test_check_command_honours_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --config, the configured directory and partners are checked (partner warnings)."""
    _write(tmp_path / "agreements", "a.yaml", _edit(BASE, "partner: trust-demo", "partner: x"))
    config = _write(tmp_path, "config.yaml", "agreements_dir: agreements\n")
    assert 0 == main(["agreements", "check", "--config", str(config)])
    assert [
        f"{tmp_path}/agreements/a.yaml:6: warning: parties[0]: partner 'x' is not configured",
        "1 file(s), 1 valid agreement(s) with 2 flow(s): 0 problem(s), 1 warning(s)",
    ] == capsys.readouterr().out.splitlines()


def _list_fixture(tmp_path: Path) -> Path:
    _write(tmp_path, "a.yaml", BASE)
    text = _edit(BASE, "id: base", "id: second")
    text = _edit(text, "version: 1", "version: 3")
    text = _edit(text, "[crisis-response]", "[crisis-response, safeguarding-child]")
    _write(tmp_path, "b.yaml", _edit(text, "- id: crisis", "- id: crisis-both"))
    return tmp_path


def test_list_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One line per flow: agreement, version, from, to, message kinds, purposes."""
    assert 0 == main(["agreements", "list", str(_list_fixture(tmp_path))])
    assert (
        "base v1 RX9 -> 999 kinds=crisis-event purposes=crisis-response\n"
        "base v1 999 -> RX9 kinds=worker-contact purposes=care-coordination\n"
        "second v3 RX9 -> 999 kinds=crisis-event purposes=crisis-response,safeguarding-child\n"
        "second v3 999 -> RX9 kinds=worker-contact purposes=care-coordination\n"
    ) == capsys.readouterr().out


def test_list_command_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--json`: an array of objects with exactly the six keys, in flow order."""
    assert 0 == main(["agreements", "list", "--json", str(_list_fixture(tmp_path))])

    def row(agreement: str, version: int, crisis: bool, purposes: list[str]) -> dict[str, object]:
        ends = ("RX9", "999") if crisis else ("999", "RX9")
        kinds = ["crisis-event"] if crisis else ["worker-contact"]
        return {
            "agreement": agreement,
            "version": version,
            "from": ends[0],
            "to": ends[1],
            "message_kinds": kinds,
            "purposes": purposes,
        }

    rows = json.loads(capsys.readouterr().out)
    assert [
        row("base", 1, True, ["crisis-response"]),
        row("base", 1, False, ["care-coordination"]),
        row("second", 3, True, ["crisis-response", "safeguarding-child"]),
        row("second", 3, False, ["care-coordination"]),
    ] == rows
    assert all(
        ["agreement", "version", "from", "to", "message_kinds", "purposes"] == list(r) for r in rows
    )


def test_list_command_with_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The valid agreements are listed; problems go to stderr and the exit code is 1."""
    _list_fixture(tmp_path)
    _write(tmp_path, "c.yaml", "id: [unclosed\n")
    assert 1 == main(["agreements", "list", str(tmp_path)])
    captured = capsys.readouterr()
    assert 4 == len(captured.out.splitlines())
    assert captured.err.startswith(f"{tmp_path}/c.yaml:2: not valid YAML")
