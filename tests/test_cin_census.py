"""The CIN census reader: every element mapped or reported, exact problems, XML attacks refused,
memory flat on a 10 MB return (synthetic fixtures in tests/fixtures/cin, no database)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from adapters.cin_census import (
    CinCensusReader,
    Effect,
    Problem,
    parse_file,
    read_file,
)
from adapters.cin_census.child import ChildResult, FileState, read_child
from adapters.cin_census.describe import markdown_table
from benchmarks.cin_import import synthetic_return
from gateway.errors import InvalidMessage
from schemas.facts import (
    AbuseCategory,
    Organisation,
    OrganisationKind,
    Period,
    Person,
    Plan,
    PlanKind,
    Section47,
    Sex,
    SocialCareEpisode,
)
from schemas.identifiers import LaChildId, Upn
from schemas.message import MessageKind

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cin"
REPO = Path(__file__).resolve().parent.parent
CHILD1 = "/Message/Children/Child[1]"

HEADER = b"""<Header><CollectionDetails><Collection>CIN</Collection><Year>2021</Year>
<ReferenceDate>2021-03-31</ReferenceDate></CollectionDetails><Source><LEA>999</LEA></Source>
</Header>"""


def child(n: int) -> bytes:
    """A minimal valid child with a synthetic LAchildID."""
    return (
        f"<Child><ChildIdentifiers><LAchildID>TEST-{n}</LAchildID><GenderCurrent>1"
        "</GenderCurrent></ChildIdentifiers><ChildCharacteristics><Ethnicity>WBRI</Ethnicity>"
        "</ChildCharacteristics><CINdetails><CINreferralDate>2020-01-01</CINreferralDate>"
        "<ReferralSource>3A</ReferralSource><ReferralNFA>0</ReferralNFA></CINdetails></Child>\n"
    ).encode()


def message_xml(*children: bytes, header: bytes = HEADER, prolog: bytes = b"") -> bytes:
    return (
        prolog
        + b"<Message>"
        + header
        + b"<Children>\n"
        + b"".join(children)
        + b"</Children></Message>"
    )


def read(body: bytes) -> tuple[CinCensusReader, list[Problem], int]:
    """The reader after a full pass, every problem, and how many children were imported."""
    reader = CinCensusReader(io.BytesIO(body), file_name="t.xml")
    results = list(reader)
    problems = reader.file_problems + [p for r in results for p in r.problems]
    return reader, problems, sum(1 for r in results if r.message is not None)


def as_tuples(problems: list[Problem]) -> list[tuple[int, str, str, Effect]]:
    return [(p.line, p.element, p.reason, p.effect) for p in problems]


# --- mapping ----------------------------------------------------------------------------------


def test_clean_2021_return_maps_every_element() -> None:
    """GenderCurrent return: identifiers, characteristics, every episode with its factors,
    section 47, CIN and CP plans, closure; an unborn child's plan is unborn-child-protection."""
    result = read_file(FIXTURES / "clean-2021.xml")
    assert [] == result.problems
    first, second = result.messages
    assert MessageKind.CIN_CENSUS_CHILD == first.kind
    assert "child" == first.subject
    assert ("999", "cin-census-999", "cin-census") == (
        first.provenance.organisation,
        first.provenance.system,
        first.provenance.source_format,
    )
    council = Organisation(id="council", kind=OrganisationKind.LOCAL_AUTHORITY, la_code="999")
    assert (
        Person(
            id="child",
            identifiers=(
                LaChildId(la_code="999", value="TEST-CH-0001"),
                Upn(value="A123456789012"),
                Upn(value="B12345678901C", former=True),
            ),
            birth_date=date(2012, 6, 15),
            sex=Sex.FEMALE,
            ethnicity="A",
        ),
        council,
        SocialCareEpisode(
            id="episode-1",
            subject="child",
            organisation="council",
            referral_date=date(2020, 4, 2),
            referral_source="3E",
            primary_need="N3",
            assessment_factors=("4B", "15A", "3B"),
            section47=(
                Section47(
                    start=date(2020, 5, 5),
                    icpc_target_date=date(2020, 5, 26),
                    icpc_date=date(2020, 5, 20),
                ),
            ),
            plans=(
                Plan(
                    kind=PlanKind.CHILD_IN_NEED,
                    period=Period(start=date(2020, 4, 21), end=date(2020, 5, 10)),
                ),
                Plan(
                    kind=PlanKind.CHILD_PROTECTION,
                    period=Period(start=date(2020, 5, 20)),
                    category=AbuseCategory.NEGLECT,
                ),
            ),
        ),
        SocialCareEpisode(
            id="episode-2",
            subject="child",
            organisation="council",
            referral_date=date(2019, 1, 10),
            referral_source="2A",
            primary_need="N4",
            closure_date=date(2019, 3, 1),
            closure_reason="RC8",
        ),
    ) == first.facts
    d = f"{CHILD1}/CINdetails"
    assert [
        f"{CHILD1}/ChildCharacteristics/Disabilities",
        f"{d}[1]/ReferralNFA",
        f"{d}[1]/Assessments[1]/AssessmentActualStartDate",
        f"{d}[1]/Assessments[1]/AssessmentAuthorisationDate",
        f"{d}[1]/Assessments[2]/AssessmentActualStartDate",
        f"{d}[1]/Section47[1]/ICPCnotRequired",
        f"{d}[1]/ChildProtectionPlans[1]/LatestCategoryOfAbuse",
        f"{d}[1]/ChildProtectionPlans[1]/NumberOfPreviousCPP",
        f"{d}[1]/ChildProtectionPlans[1]/Reviews",
        f"{d}[2]/ReferralNFA",
    ] == [u.element for u in first.unmapped]
    person = second.facts[0]
    assert isinstance(person, Person)
    assert (Sex.UNKNOWN, "C", None) == (person.sex, person.ethnicity, person.birth_date)
    episode = second.facts[2]
    assert isinstance(episode, SocialCareEpisode)
    assert (
        Plan(
            kind=PlanKind.UNBORN_CHILD_PROTECTION,
            period=Period(start=date(2021, 1, 25)),
            category=AbuseCategory.EMOTIONAL,
        ),
    ) == episode.plans
    child2 = "/Message/Children/Child[2]"
    assert {
        f"{child2}/ChildIdentifiers/UPNunknown",
        f"{child2}/ChildIdentifiers/ExpectedPersonBirthDate",
        f"{child2}/ChildCharacteristics/Ethnicity",  # WROM is finer than UK Core C
    } <= {u.element for u in second.unmapped}


def test_2026_return_reads_sex_m_f_u_and_reports_pre_proceedings_as_unmapped() -> None:
    """The 2025-26 Sex element (M/F/U) maps to male/female/unknown; its new elements are in the
    loss report, not silently dropped."""
    result = read_file(FIXTURES / "sex-2026.xml")
    assert [] == result.problems
    people = [m.facts[0] for m in result.messages]
    assert [Sex.MALE, Sex.FEMALE, Sex.UNKNOWN] == [p.sex for p in people if isinstance(p, Person)]
    assert ["E", "R", "99"] == [p.ethnicity for p in people if isinstance(p, Person)]
    assert f"{CHILD1}/CINdetails[1]/PreProceedingsandFGDM" in [
        u.element for u in result.messages[0].unmapped
    ]


def test_gender_current_codes_are_refused_in_sex_and_the_reverse() -> None:
    """Each element has its own code list: GenderCurrent 0/1/2/9, Sex M/F/U."""
    wrong = child(1).replace(b"<GenderCurrent>1</GenderCurrent>", b"<Sex>1</Sex>")
    _, problems, imported = read(message_xml(wrong))
    assert [
        (
            4,
            f"{CHILD1}/ChildIdentifiers/Sex",
            "unknown code: Sex is one of F, M, U",
            Effect.VALUE_LEFT_OUT,
        )
    ] == as_tuples(problems)
    assert 1 == imported


# --- problems ---------------------------------------------------------------------------------


FAULTY_PROBLEMS = [
    (8, "/Message/Header/CollectionDetails/ReferenceDate", "not 31 March of the collection Year (DfE rule 100)", Effect.REPORTED),
    (11, "/Message/Header/Source/SourceLevel", "not L (local authority)", Effect.REPORTED),
    (19, f"{CHILD1}/ChildIdentifiers/UPN", "text after this element, where the schema allows elements only: ignored", Effect.REPORTED),
    (19, f"{CHILD1}/ChildIdentifiers/UPN", "not a UPN: a letter, eleven digits, then a digit or a letter", Effect.VALUE_LEFT_OUT),
    (20, f"{CHILD1}/ChildIdentifiers/Nickname", "not a CIN census element at this place (2021 to 2026 schemas): ignored", Effect.REPORTED),
    (22, f"{CHILD1}/ChildIdentifiers/GenderCurrent", "unknown code: GenderCurrent is one of 0, 1, 2, 9", Effect.VALUE_LEFT_OUT),
    (25, f"{CHILD1}/ChildCharacteristics/Ethnicity", "unknown code: not in the ethnicity mapping", Effect.VALUE_LEFT_OUT),
    (33, f"{CHILD1}/CINdetails[2]/CINreferralDate", "not a valid date (YYYY-MM-DD)", Effect.EPISODE_SKIPPED),
    (37, f"{CHILD1}/CINdetails[3]", "has attributes, which the CIN census schema does not define: ignored", Effect.REPORTED),
    (39, f"{CHILD1}/CINdetails[3]/ReferralSource", "unknown code: not in the referral-source mapping", Effect.EPISODE_SKIPPED),
    (48, f"{CHILD1}/CINdetails[4]/Assessments[1]/FactorsIdentifiedAtAssessment/AssessmentFactors[1]", "unknown code: not in the assessment-factor mapping", Effect.EPISODE_SKIPPED),
    (54, f"{CHILD1}/CINdetails[4]/ChildProtectionPlans[1]/InitialCategoryOfAbuse", "unknown code: not in the abuse-category mapping", Effect.EPISODE_SKIPPED),
    (61, "/Message/Children/Child[2]/ChildIdentifiers/LAchildID", "missing (required)", Effect.CHILD_SKIPPED),
    (71, "/Message/Children/Child[2]/CINdetails[1]/PrimaryNeedCode", "unknown code: not in the primary-need mapping", Effect.EPISODE_SKIPPED),
    (77, "/Message/Children/Child[3]/ChildIdentifiers/LAchildID", "the same LAchildID as Child[1]: a child appears once in a return", Effect.CHILD_SKIPPED),
    (91, "/Message/Children/Child[4]/ChildIdentifiers/LAchildID", "not a usable LAchildID: 1 to 64 printable characters without spaces", Effect.CHILD_SKIPPED),
    (117, "/Message/Children/Child[5]/CINdetails[2]", "the same CINreferralDate as CINdetails[1]: the index keys a child's episodes by referral date, so neither is imported", Effect.EPISODE_SKIPPED),
    (123, "/Message/Children/Child[6]", "text after this element, where the schema allows elements only: ignored", Effect.REPORTED),
    (124, "/Message/Children/Child[6]/ChildIdentifiers/Sex", "missing: a child has GenderCurrent (to 2024-25) or Sex (from 2025-26)", Effect.REPORTED),
    (126, "/Message/Children/Child[6]/ChildIdentifiers/UPN", "the same UPN as Child[5]: two children cannot share a pupil number", Effect.VALUE_LEFT_OUT),
    (134, "/Message/Children/Child[6]/CINdetails[1]/Section47[1]/S47ActualStartDate", "missing (required)", Effect.EPISODE_SKIPPED),
]  # fmt: skip


def test_faulty_return_reports_every_problem_exactly() -> None:
    """Each fault has its line, element, reason and effect; the rest is imported."""
    result = read_file(FIXTURES / "faulty.xml", file_name="faulty.xml")
    assert FAULTY_PROBLEMS == as_tuples(result.problems)
    assert {"faulty.xml"} == {p.file for p in result.problems}
    imported = {
        m.facts[0].identifiers[0].value: [  # type: ignore[union-attr]
            f.referral_date for f in m.facts if isinstance(f, SocialCareEpisode)
        ]
        for m in result.messages
    }
    assert {
        "TEST-CH-0201": [date(2020, 1, 6)],
        "TEST-CH-0205": [],
        "TEST-CH-0206": [date(2020, 10, 1)],
    } == imported
    first = result.messages[0].facts[0]
    assert isinstance(first, Person)
    assert (None, None, date(2013, 1, 1)) == (first.sex, first.ethnicity, first.birth_date)


def test_problems_never_quote_a_value_from_the_file() -> None:
    """Reasons name elements and rules: no identifier, code or date of the file appears."""
    text = "\n".join(str(p) for p in read_file(FIXTURES / "faulty.xml").problems)
    for value in (
        "TEST-CH",
        "TEST CH",
        "A12345",
        "D123456789012",
        "XXXX",
        "3G",
        "99Z",
        "ABC",
        "N10",
        "2020-02-30",
        "2021-03-30",
        "Not in the schema",
        "stray",
        "junk",
        "zq9",
    ):
        assert value not in text


def test_strict_parse_names_every_problem() -> None:
    """``parse_file`` (translate) refuses a faulty return naming each element and line."""
    with pytest.raises(InvalidMessage) as caught:
        parse_file(FIXTURES / "faulty.xml")
    assert len(FAULTY_PROBLEMS) == len(caught.value.issues)
    assert f"{CHILD1}/ChildIdentifiers/UPN (line 19)" == caught.value.issues[2].element
    assert 2 == len(parse_file(FIXTURES / "clean-2021.xml"))


# --- the file and its header ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "source_line", "element", "reason"),
    [
        (b"<LEA>12</LEA>", 2, "/Message/Header/Source/LEA", "not a DfE LA code (three digits): every child id is namespaced by it"),
        (b"<LEA></LEA>", 2, "/Message/Header/Source/LEA", "is empty"),
        (b"", 2, "/Message/Header/Source/LEA", "missing (required)"),
    ],
)  # fmt: skip
def test_an_unusable_lea_refuses_the_file(
    source: bytes, source_line: int, element: str, reason: str
) -> None:
    """Without a three-digit LEA no child can be keyed to its council: nothing is read."""
    header = HEADER.replace(b"<LEA>999</LEA>", source)
    reader, problems, imported = read(message_xml(child(1), header=header))
    assert [(source_line, element, reason, Effect.FILE_REFUSED)] == as_tuples(problems)
    assert (0, 0, True) == (imported, reader.children, reader.refused)


def test_a_return_of_another_collection_is_refused() -> None:
    """Collection other than CIN: not a census return the importer may trust."""
    header = HEADER.replace(b"<Collection>CIN</Collection>", b"<Collection>SC</Collection>")
    reader, problems, imported = read(message_xml(child(1), header=header))
    assert [
        (
            1,
            "/Message/Header/CollectionDetails/Collection",
            "not CIN: this is not a Children in Need census return",
            Effect.FILE_REFUSED,
        )
    ] == as_tuples(problems)
    assert (0, True) == (imported, reader.refused)


def test_a_bad_year_is_reported_and_the_children_imported() -> None:
    """Year and ReferenceDate date the return, not a child: reported, import continues."""
    header = HEADER.replace(b"<Year>2021</Year>", b"<Year>21</Year>")
    _, problems, imported = read(message_xml(child(1), child(2), header=header))
    assert [
        (1, "/Message/Header/CollectionDetails/Year", "not a year (YYYY)", Effect.REPORTED)
    ] == as_tuples(problems)
    assert 2 == imported


def test_children_before_any_header_refuse_the_file() -> None:
    """No LEA before the first child: refused at that child, nothing imported."""
    reader, problems, imported = read(message_xml(child(1), header=b""))
    assert [
        (
            2,
            "/Message/Header",
            "missing before the first Child: the council's LEA code is needed to import any child",
            Effect.FILE_REFUSED,
        )
    ] == as_tuples(problems)
    assert (0, True) == (imported, reader.refused)


def test_broken_xml_mid_file_stops_there_and_keeps_what_was_read() -> None:
    """A syntax error stops reading at its line; the children before it were read."""
    broken = child(3).replace(b"</Child>", b"</Chld>")
    reader, problems, imported = read(message_xml(child(1), child(2), broken))
    assert [
        (
            6,
            "/",
            "the XML is not well-formed here (Opening and ending tag mismatch): children after "
            "this point were not read",
            Effect.READING_STOPPED,
        )
    ] == as_tuples(problems)
    assert (2, False) == (imported, reader.refused)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "the file is empty"),
        (b"just some text\n", "not XML (Start tag expected, '<' not found)"),
        (b'{"json": true}', "not XML (Start tag expected, '<' not found)"),
        (b"\x00\x01\x02binary", "not XML (Start tag expected, '<' not found)"),
    ],
)
def test_input_that_is_not_xml_at_all_is_unusable(body: bytes, reason: str) -> None:
    """Not XML at all: one problem, the file not read (the CLI exits 2)."""
    reader, problems, _ = read(body)
    assert [(1, "/", reason, Effect.NOT_READ)] == as_tuples(problems)
    assert reader.unusable


def test_xml_that_is_not_a_census_return_is_refused() -> None:
    """Another document type: refused at its root element."""
    reader, problems, _ = read(b"<html><body/></html>")
    assert [
        (
            1,
            "/html",
            "the root element is not Message: not a CIN census return",
            Effect.FILE_REFUSED,
        )
    ] == as_tuples(problems)
    assert (True, False) == (reader.refused, reader.unusable)


def test_stray_text_and_unknown_elements_between_children_are_reported() -> None:
    """Formatting faults at the Children level change nothing but are reported."""
    body = message_xml(child(1), b"oops<Extra/>", child(2), b"tail")
    _, problems, imported = read(body)
    assert [
        (4, "/Message/Children/Child[1]", "text after this element, where the schema allows elements only: ignored", Effect.REPORTED),
        (5, "/Message/Children/Child[2]", "text after this element, where the schema allows elements only: ignored", Effect.REPORTED),
        (5, "/Message/Children/Extra", "not an element of the CIN census at this place: ignored", Effect.REPORTED),
    ] == sorted(as_tuples(problems))  # fmt: skip
    assert 2 == imported


def test_the_file_hash_covers_every_byte_even_when_reading_stops() -> None:
    """``sha256()`` is of the whole file, whether it was read to the end, stopped or refused."""
    for body in (
        message_xml(child(1)),
        message_xml(child(1), b"<Child><broken></Child>", child(3)),
        b"<!DOCTYPE Message><Message/>" + b" " * 200_000,
    ):
        reader = CinCensusReader(io.BytesIO(body))
        list(reader)
        assert hashlib.sha256(body).hexdigest() == reader.sha256()


# --- XML attacks ------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE Message [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""
ATTACKS = {
    "billion-laughs": (
        message_xml(child(1).replace(b"TEST-1", b"&lol9;"), prolog=BILLION_LAUGHS),
        2,
        "the DOCTYPE declares entities, which can expand without bound (an XML bomb): refused",
    ),
    "external-entity": (
        message_xml(
            child(1).replace(b"TEST-1", b"&xxe;"),
            prolog=b'<!DOCTYPE Message [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n',
        ),
        1,
        "the DOCTYPE declares an external entity, which could read local files or reach the "
        "network (XXE): refused",
    ),
    "external-dtd": (
        message_xml(
            child(1), prolog=b'<!DOCTYPE Message SYSTEM "http://example.invalid/cin.dtd">\n'
        ),
        1,
        "the DOCTYPE names an external DTD, which a parser would fetch: refused",
    ),
    "long-dtd": (
        message_xml(
            child(1),
            prolog=b"<!DOCTYPE Message [\n"
            + b"".join(b'<!ENTITY e%d "padding">\n' % n for n in range(3000))
            + b"]>\n",
        ),
        1,
        "the DOCTYPE declares entities, which can expand without bound (an XML bomb): refused",
    ),
    "doctype": (
        message_xml(child(1), prolog=b"<?xml version='1.0'?>\n\n<!DOCTYPE Message>\n"),
        3,
        "a CIN census return has no DOCTYPE, and one can declare entities or fetch files: refused",
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_xml_attacks_are_refused_before_anything_is_read(attack: str) -> None:
    """Any DOCTYPE refuses the file with a specific problem; no child is read, quickly."""
    body, line, reason = ATTACKS[attack]
    started = time.perf_counter()
    reader, problems, imported = read(body)
    assert time.perf_counter() - started < 1.0
    assert [(line, "<!DOCTYPE>", reason, Effect.FILE_REFUSED)] == as_tuples(problems)
    assert (0, 0, True) == (imported, reader.children, reader.refused)


def test_deep_nesting_stops_reading_with_a_specific_problem() -> None:
    """libxml2's depth limit (256 without huge_tree) ends reading at that line, no crash."""
    deep = child(2).replace(b"<ReferralNFA>", b"<X>" * 300 + b"</X>" * 300 + b"<ReferralNFA>")
    _, problems, imported = read(message_xml(child(1), deep))
    assert [
        (
            5,
            "/",
            "the XML is not well-formed here (Excessive depth in document): children after this "
            "point were not read",
            Effect.READING_STOPPED,
        )
    ] == as_tuples(problems)
    assert 1 == imported


def test_a_huge_text_node_stops_reading_with_a_specific_problem() -> None:
    """A text node over libxml2's 10 MB limit (without huge_tree) ends reading, no crash."""
    huge = child(2).replace(b"TEST-2", b"x" * 10_000_001)
    _, problems, imported = read(message_xml(child(1), huge))
    assert [
        (
            5,
            "/",
            "the XML is not well-formed here (Resource limit exceeded): children after this "
            "point were not read",
            Effect.READING_STOPPED,
        )
    ] == as_tuples(problems)
    assert 1 == imported


_PEAK_RSS = """
import resource, sys
from adapters.cin_census import CinCensusReader
imported = sum(1 for r in CinCensusReader(sys.argv[1]) if r.message is not None)
print(imported, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_kib(path: Path) -> tuple[int, int]:
    out = subprocess.run(  # noqa: S603 - this interpreter, a fixed script, a temporary file
        [sys.executable, "-c", _PEAK_RSS, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_memory_stays_flat_on_a_10_mb_return(tmp_path: Path) -> None:
    """Peak memory reading a 10 MB return is within 8 MiB of reading a 1 MB one (a whole-tree
    parse of the 10 MB file costs about 30 MiB more): children are dropped as they are read."""
    small, large = tmp_path / "small.xml", tmp_path / "large.xml"
    synthetic_return(small, 600)
    assert synthetic_return(large, 6300) > 10_000_000
    small_count, small_peak = _peak_kib(small)
    large_count, large_peak = _peak_kib(large)
    assert (600, 6300) == (small_count, large_count)
    assert large_peak - small_peak < 8 * 1024


_SEEDS = [(FIXTURES / name).read_bytes() for name in ("clean-2021.xml", "faulty.xml")]


@settings(max_examples=150, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(_SEEDS),
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 20), st.binary(max_size=12)),
        min_size=1,
        max_size=6,
    ),
)
def test_mutated_returns_never_raise(seed: bytes, edits: list[tuple[float, int, bytes]]) -> None:
    """Arbitrary byte edits of valid and faulty returns are read or reported, never raised."""
    body = bytearray(seed)
    for where, cut, insert in edits:
        at = int(where * len(body))
        body[at : at + cut] = insert
    reader = CinCensusReader(io.BytesIO(bytes(body)), file_name="mutated.xml")
    results = list(reader)
    for problem in [*reader.file_problems, *(p for r in results for p in r.problems)]:
        assert problem.element.startswith(("/", "<!DOCTYPE>"))


def test_an_unexpected_error_in_one_child_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Defence in depth: a fault in the mapping leaves that child out, named, and reads on."""

    def flaky(child_el: etree._Element, index: int, state: FileState) -> ChildResult:
        if index == 1:
            raise RuntimeError("boom with a value TEST-1")
        return read_child(child_el, index, state)

    monkeypatch.setattr("adapters.cin_census.reader.read_child", flaky)
    _, problems, imported = read(message_xml(child(1), child(2)))
    assert [
        (
            4,
            CHILD1,
            "could not be mapped (RuntimeError): please report this to the gateway's maintainers",
            Effect.CHILD_SKIPPED,
        )
    ] == as_tuples(problems)
    assert 1 == imported


def test_docs_embed_the_mapping_table_as_described() -> None:
    """docs/mappings/cin-census.md carries the table ``describe()`` produces, unchanged."""
    docs = (REPO / "docs" / "mappings" / "cin-census.md").read_text(encoding="utf-8")
    assert markdown_table() in docs
