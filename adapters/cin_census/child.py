"""One ``<Child>`` element to one canonical message, or to the problems that stop it.

The rules (docs/mappings/cin-census.md, "Problem rules"):

* A child whose ``LAchildID`` is missing, unusable or repeats an earlier child's in the same file
  is not imported: without it the child cannot be keyed to its council.
* A ``CINdetails`` episode with any problem in its values (a date, a code, a required element) is
  left out; the child's other episodes are imported. The index keys episodes by referral date and
  never deletes one, so whatever it already held for that referral date stays as it was.
* A bad identifier or characteristic (``UPN``, ``FormerUPN``, birth date, sex, ethnicity) is left
  out of the person; the child is imported without it.
* Stray text, unknown elements and attributes are reported and change nothing.

Every problem of a child is reported, including those of an episode or child already left out.
Elements the canonical model does not carry go to the message's loss report (``unmapped``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from lxml import etree
from pydantic import ValidationError

from adapters.cin_census import codes
from adapters.cin_census.problems import Effect, Problem
from schemas.facts import (
    AbuseCategory,
    Fact,
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
from schemas.identifiers import LaChildId, PersonIdentifier, Upn
from schemas.message import CanonicalMessage, MessageKind, Unmapped
from schemas.provenance import Provenance

SOURCE_FORMAT = "cin-census"
CHILD_FACT = "child"
COUNCIL_FACT = "council"

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UPN = re.compile(r"^[A-Za-z]\d{11}[A-Za-z\d]$")
_LA_CHILD_ID = re.compile(r"^[\x21-\x7e]{1,64}$")

# Elements that may repeat within their parent: their paths carry a position, [1] first.
REPEATABLE = frozenset(
    {
        "Child",
        "CINdetails",
        "Assessments",
        "CINPlanDates",
        "Section47",
        "ChildProtectionPlans",
        "AssessmentFactors",
        "Disability",
        "CPPreviewDate",
    }
)

# What each container may hold, over the 2021 to 2026 schemas.
_CHILD = frozenset({"ChildIdentifiers", "ChildCharacteristics", "CINdetails"})
_IDENTIFIERS = frozenset(
    {
        "LAchildID",
        "UPN",
        "FormerUPN",
        "UPNunknown",
        "PersonBirthDate",
        "ExpectedPersonBirthDate",
        "GenderCurrent",
        "Sex",
        "PersonDeathDate",
    }
)
_CHARACTERISTICS = frozenset({"Ethnicity", "Disabilities"})
_CINDETAILS = frozenset(
    {
        "CINreferralDate",
        "ReferralSource",
        "PrimaryNeedCode",
        "CINclosureDate",
        "ReasonForClosure",
        "DateOfInitialCPC",
        "Assessments",
        "CINPlanDates",
        "Section47",
        "ReferralNFA",
        "ChildProtectionPlans",
        "PreProceedingsandFGDM",
    }
)
_ASSESSMENTS = frozenset(
    {
        "AssessmentActualStartDate",
        "AssessmentInternalReviewDate",
        "AssessmentAuthorisationDate",
        "FactorsIdentifiedAtAssessment",
    }
)
_FACTORS = frozenset({"AssessmentFactors"})
_CIN_PLAN = frozenset({"CINPlanStartDate", "CINPlanEndDate"})
_SECTION47 = frozenset(
    {"S47ActualStartDate", "InitialCPCtarget", "DateOfInitialCPC", "ICPCnotRequired"}
)
_CP_PLAN = frozenset(
    {
        "CPPstartDate",
        "CPPendDate",
        "InitialCategoryOfAbuse",
        "LatestCategoryOfAbuse",
        "NumberOfPreviousCPP",
        "Reviews",
    }
)

# Elements the canonical model does not carry, by (parent, element): the loss report's reasons.
UNMAPPED: dict[tuple[str, str], str] = {
    ("ChildIdentifiers", "UPNunknown"): "the canonical person has no reason for a missing UPN",
    ("ChildIdentifiers", "ExpectedPersonBirthDate"): (
        "the canonical person has no expected birth date (an unborn child's protection plans are "
        "marked unborn-child-protection)"
    ),
    ("ChildIdentifiers", "PersonDeathDate"): "the canonical person has no date of death",
    ("ChildCharacteristics", "Disabilities"): "the canonical person carries no disabilities",
    ("CINdetails", "DateOfInitialCPC"): (
        "the canonical episode carries initial conference dates on its section 47 enquiries only"
    ),
    ("CINdetails", "ReferralNFA"): "the canonical episode has no 'no further action' flag",
    ("CINdetails", "PreProceedingsandFGDM"): (
        "pre-proceedings and family group decision making are not in the canonical model"
    ),
    ("Assessments", "AssessmentActualStartDate"): (
        "the canonical episode keeps assessment factors, not assessment dates"
    ),
    ("Assessments", "AssessmentInternalReviewDate"): (
        "the canonical episode keeps assessment factors, not assessment dates"
    ),
    ("Assessments", "AssessmentAuthorisationDate"): (
        "the canonical episode keeps assessment factors, not assessment dates"
    ),
    ("Section47", "ICPCnotRequired"): (
        "the canonical section 47 enquiry has no 'conference not required' flag"
    ),
    ("ChildProtectionPlans", "LatestCategoryOfAbuse"): (
        "the canonical plan keeps the initial category of abuse only"
    ),
    ("ChildProtectionPlans", "NumberOfPreviousCPP"): (
        "the canonical plan has no count of previous plans"
    ),
    ("ChildProtectionPlans", "Reviews"): "the canonical plan has no review dates",
}

Elements = dict[str, list[tuple[etree._Element, str]]]
_Elements = Elements


@dataclass(frozen=True, slots=True)
class CensusHeader:
    """What the return's header says: the council (DfE LA code) and the collection."""

    la_code: str
    collection: str | None
    year: int | None
    reference_date: date | None
    line: int


@dataclass(frozen=True, slots=True)
class ChildResult:
    """One child: its canonical message (None when the child is not imported) and its problems."""

    index: int  # position among the return's children, 1 first
    line: int
    message: CanonicalMessage | None
    problems: tuple[Problem, ...]


@dataclass
class FileState:
    """What the reader remembers across the children of one file (for duplicate checks)."""

    file: str
    header: CensusHeader
    received_at: datetime
    child_ids: dict[str, int] = field(default_factory=dict)  # LAchildID -> child position
    upns: dict[str, int] = field(default_factory=dict)  # UPN -> child position


def partner_id(la_code: str) -> str:
    """The partner id an import for council ``la_code`` acts as."""
    return f"cin-census-{la_code}"


# Mixed content (text beside elements) or any attribute anywhere in a subtree: one pass in C
# per child decides whether the element-by-element checks for them are needed at all.
_IRREGULAR = etree.XPath(
    "boolean(descendant-or-self::*[*]/text()[normalize-space()] | descendant-or-self::*/@*)"
)


class Walker:
    """Checks the structure and values of a part of the file, collecting problems.

    ``thorough`` False skips the checks for stray text and attributes, for a subtree
    ``_IRREGULAR`` found free of both.
    """

    def __init__(self, file: str, *, thorough: bool = True) -> None:
        self.file = file
        self.thorough = thorough
        self.problems: list[Problem] = []

    def problem(self, line: int | None, element: str, reason: str, effect: Effect) -> None:
        self.problems.append(Problem(self.file, line or 0, element, reason, effect))

    def group(self, el: etree._Element, path: str, known: frozenset[str]) -> _Elements:
        """The element's children by tag, with their paths; stray text, attributes and unknown
        elements are reported (they change nothing)."""
        thorough = self.thorough
        if thorough:
            text = el.text
            if text and not text.isspace():
                self.problem(
                    el.sourceline,
                    path,
                    "text inside an element that holds elements only: ignored",
                    Effect.REPORTED,
                )
        groups: _Elements = {}
        for sub in el:
            tag = sub.tag
            if not isinstance(tag, str):  # pragma: no cover - comments and PIs are removed
                continue
            if tag in known:
                found = groups.get(tag)
                if found is None:
                    found = groups[tag] = []
                sub_path = (
                    f"{path}/{tag}[{len(found) + 1}]" if tag in REPEATABLE else f"{path}/{tag}"
                )
                found.append((sub, sub_path))
            else:
                sub_path = f"{path}/{tag}"
                self.problem(
                    sub.sourceline,
                    sub_path,
                    "not a CIN census element at this place (2021 to 2026 schemas): ignored",
                    Effect.REPORTED,
                )
            if thorough:
                self.irregular(sub, sub_path)
        return groups

    def irregular(self, sub: etree._Element, sub_path: str) -> None:
        if len(sub.attrib):
            self.problem(
                sub.sourceline,
                sub_path,
                "has attributes, which the CIN census schema does not define: ignored",
                Effect.REPORTED,
            )
        tail = sub.tail
        if tail and not tail.isspace():
            self.problem(
                sub.sourceline,
                sub_path,
                "text after this element, where the schema allows elements only: ignored",
                Effect.REPORTED,
            )

    def single(
        self,
        groups: _Elements,
        tag: str,
        parent: etree._Element,
        parent_path: str,
        effect: Effect,
        *,
        required: bool,
    ) -> tuple[etree._Element, str] | None:
        """The one ``tag`` child, or None (a problem with ``effect`` if missing or repeated)."""
        found = groups.get(tag)
        if not found:
            if required:
                self.problem(
                    parent.sourceline, f"{parent_path}/{tag}", "missing (required)", effect
                )
            return None
        if len(found) > 1:
            el, path = found[1]
            self.problem(
                el.sourceline,
                path,
                f"appears {len(found)} times; the schema allows one",
                effect,
            )
            return None
        return found[0]

    def value(self, el: etree._Element, path: str, effect: Effect) -> str | None:
        """The element's text, stripped; None (a problem with ``effect``) if empty or not text."""
        if len(el):
            self.problem(
                el.sourceline, path, "holds elements where the schema expects a value", effect
            )
            return None
        text = (el.text or "").strip()
        if not text:
            self.problem(el.sourceline, path, "is empty", effect)
            return None
        return text

    def date_of(self, found: tuple[etree._Element, str] | None, effect: Effect) -> date | None:
        if found is None:
            return None
        el, path = found
        text = self.value(el, path, effect)
        if text is None:
            return None
        if _DATE.match(text):
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
        self.problem(el.sourceline, path, "not a valid date (YYYY-MM-DD)", effect)
        return None

    def code_of(
        self,
        found: tuple[etree._Element, str] | None,
        mapping: dict[str, str],
        name: str,
        effect: Effect,
    ) -> str | None:
        if found is None:
            return None
        el, path = found
        text = self.value(el, path, effect)
        if text is None:
            return None
        target = mapping.get(text)
        if target is None:
            self.problem(el.sourceline, path, f"unknown code: not in the {name} mapping", effect)
        return target


class _Reader(Walker):
    """Reads one child, collecting its problems and loss report."""

    def __init__(self, state: FileState, index: int, *, thorough: bool) -> None:
        super().__init__(state.file, thorough=thorough)
        self.state = state
        self.index = index
        self.unmapped: list[Unmapped] = []

    def lose_all(self, groups: _Elements, parent: str) -> None:
        for tag, found in groups.items():
            reason = UNMAPPED.get((parent, tag))
            if reason is not None:
                self.unmapped.extend(Unmapped(element=path, reason=reason) for _, path in found)

    # --- the child -----------------------------------------------------------------------------

    def read(self, child: etree._Element) -> ChildResult:
        prefix = f"/Message/Children/Child[{self.index}]"
        groups = self.group(child, prefix, _CHILD)
        skip = Effect.CHILD_SKIPPED
        identifiers = self.single(groups, "ChildIdentifiers", child, prefix, skip, required=True)
        person_facts = self.person(identifiers, groups, child, prefix)
        episodes = self.episodes(groups, child, prefix, unborn=person_facts.unborn)
        message = None
        child_id = person_facts.child_id
        if child_id is not None and not any(p.effect is skip for p in self.problems):
            message = self.message(child_id, person_facts, episodes)
        return ChildResult(self.index, child.sourceline or 0, message, tuple(self.problems))

    def person(
        self,
        identifiers: tuple[etree._Element, str] | None,
        groups: _Elements,
        child: etree._Element,
        prefix: str,
    ) -> _PersonFacts:
        facts = _PersonFacts()
        left_out = Effect.VALUE_LEFT_OUT
        if identifiers is not None:
            el, path = identifiers
            ids = self.group(el, path, _IDENTIFIERS)
            self.lose_all(ids, "ChildIdentifiers")
            facts.child_id = self.child_id(ids, el, path)
            facts.upn = self.upn(ids, "UPN", el, path, former=False)
            facts.former_upn = self.upn(ids, "FormerUPN", el, path, former=True)
            birth = self.single(ids, "PersonBirthDate", el, path, left_out, required=False)
            facts.birth_date = self.date_of(birth, left_out)
            facts.unborn = "PersonBirthDate" not in ids and "ExpectedPersonBirthDate" in ids
            facts.sex = self.sex(ids, el, path)
        characteristics = self.single(
            groups, "ChildCharacteristics", child, prefix, Effect.REPORTED, required=True
        )
        if characteristics is not None:
            el, path = characteristics
            chars = self.group(el, path, _CHARACTERISTICS)
            self.lose_all(chars, "ChildCharacteristics")
            ethnicity = self.single(chars, "Ethnicity", el, path, left_out, required=False)
            if ethnicity is None and "Ethnicity" not in chars:
                self.problem(
                    el.sourceline, f"{path}/Ethnicity", "missing (required)", Effect.REPORTED
                )
            facts.ethnicity = self.code_of(ethnicity, codes.ETHNICITY, "ethnicity", left_out)
            if facts.ethnicity is not None and ethnicity is not None:
                code = (ethnicity[0].text or "").strip()
                if code in codes.ETHNICITY_NARROWED:
                    self.unmapped.append(
                        Unmapped(
                            element=ethnicity[1],
                            reason="the DfE code is finer than its UK Core ethnic category, "
                            "which is what the canonical person keeps",
                        )
                    )
        return facts

    def child_id(self, ids: _Elements, parent: etree._Element, path: str) -> str | None:
        skip = Effect.CHILD_SKIPPED
        found = self.single(ids, "LAchildID", parent, path, skip, required=True)
        if found is None:
            return None
        el, id_path = found
        value = self.value(el, id_path, skip)
        if value is None:
            return None
        if not _LA_CHILD_ID.match(value):
            self.problem(
                el.sourceline,
                id_path,
                "not a usable LAchildID: 1 to 64 printable characters without spaces",
                skip,
            )
            return None
        earlier = self.state.child_ids.setdefault(value, self.index)
        if earlier != self.index:
            self.problem(
                el.sourceline,
                id_path,
                f"the same LAchildID as Child[{earlier}]: a child appears once in a return",
                skip,
            )
            return None
        return value

    def upn(
        self, ids: _Elements, tag: str, parent: etree._Element, path: str, *, former: bool
    ) -> str | None:
        left_out = Effect.VALUE_LEFT_OUT
        found = self.single(ids, tag, parent, path, left_out, required=False)
        if found is None:
            return None
        el, upn_path = found
        value = self.value(el, upn_path, left_out)
        if value is None:
            return None
        if not _UPN.match(value):
            self.problem(
                el.sourceline,
                upn_path,
                "not a UPN: a letter, eleven digits, then a digit or a letter",
                left_out,
            )
            return None
        value = value.upper()
        if not former:
            earlier = self.state.upns.setdefault(value, self.index)
            if earlier != self.index:
                self.problem(
                    el.sourceline,
                    upn_path,
                    f"the same UPN as Child[{earlier}]: two children cannot share a pupil number",
                    left_out,
                )
                return None
        return value

    def sex(self, ids: _Elements, parent: etree._Element, path: str) -> Sex | None:
        left_out = Effect.VALUE_LEFT_OUT
        present = [tag for tag in ("GenderCurrent", "Sex") if tag in ids]
        if not present:
            self.problem(
                parent.sourceline,
                f"{path}/Sex",
                "missing: a child has GenderCurrent (to 2024-25) or Sex (from 2025-26)",
                Effect.REPORTED,
            )
            return None
        if len(present) > 1:
            el, sex_path = ids["Sex"][0]
            self.problem(
                el.sourceline, sex_path, "both GenderCurrent and Sex: a return uses one", left_out
            )
            return None
        tag = present[0]
        found = self.single(ids, tag, parent, path, left_out, required=True)
        if found is None:
            return None
        el, sex_path = found
        value = self.value(el, sex_path, left_out)
        if value is None:
            return None
        allowed = codes.SEX_CODES_BY_ELEMENT[tag]
        if value not in allowed:
            self.problem(
                el.sourceline,
                sex_path,
                f"unknown code: {tag} is one of {', '.join(sorted(allowed))}",
                left_out,
            )
            return None
        return Sex(codes.SEX[value])

    # --- episodes ------------------------------------------------------------------------------

    def episodes(
        self, groups: _Elements, child: etree._Element, prefix: str, *, unborn: bool
    ) -> list[SocialCareEpisode]:
        details = groups.get("CINdetails", [])
        if not details:
            self.problem(
                child.sourceline,
                f"{prefix}/CINdetails",
                "missing: a child has at least one CINdetails",
                Effect.REPORTED,
            )
        episodes: list[SocialCareEpisode] = []
        by_referral: dict[date, str] = {}
        for position, (el, path) in enumerate(details, start=1):
            before = len(self.problems)
            episode = self.episode(el, path, position, unborn=unborn)
            broken = (
                any(p.effect is not Effect.REPORTED for p in self.problems[before:])
                or episode is None
            )
            if episode is not None and episode.referral_date is not None:
                earlier = by_referral.setdefault(episode.referral_date, path)
                if earlier != path:
                    self.problem(
                        el.sourceline,
                        path,
                        f"the same CINreferralDate as {earlier.rsplit('/', 1)[-1]}: the index "
                        "keys a child's episodes by referral date, so neither is imported",
                        Effect.EPISODE_SKIPPED,
                    )
                    episodes = [e for e in episodes if e.referral_date != episode.referral_date]
                    continue
            if not broken and episode is not None:
                episodes.append(episode)
        return episodes

    def episode(
        self, el: etree._Element, path: str, position: int, *, unborn: bool
    ) -> SocialCareEpisode | None:
        skip = Effect.EPISODE_SKIPPED
        parts = self.group(el, path, _CINDETAILS)
        self.lose_all(parts, "CINdetails")
        referral_date = self.date_of(
            self.single(parts, "CINreferralDate", el, path, skip, required=True), skip
        )
        source = self.code_of(
            self.single(parts, "ReferralSource", el, path, skip, required=True),
            codes.REFERRAL_SOURCE,
            "referral-source",
            skip,
        )
        need = self.code_of(
            self.single(parts, "PrimaryNeedCode", el, path, skip, required=False),
            codes.PRIMARY_NEED,
            "primary-need",
            skip,
        )
        closure_date = self.date_of(
            self.single(parts, "CINclosureDate", el, path, skip, required=False), skip
        )
        closure_reason = self.code_of(
            self.single(parts, "ReasonForClosure", el, path, skip, required=False),
            codes.CLOSURE_REASON,
            "closure-reason",
            skip,
        )
        factors = self.factors(parts.get("Assessments", []))
        section47 = [s for s in map(self.section47, parts.get("Section47", [])) if s]
        plans = [p for p in map(self.cin_plan, parts.get("CINPlanDates", [])) if p]
        kind = PlanKind.UNBORN_CHILD_PROTECTION if unborn else PlanKind.CHILD_PROTECTION
        plans += [
            p
            for p in (self.cp_plan(found, kind) for found in parts.get("ChildProtectionPlans", []))
            if p
        ]
        if referral_date is None:
            return None
        try:
            return SocialCareEpisode(
                id=f"episode-{position}",
                subject=CHILD_FACT,
                organisation=COUNCIL_FACT,
                referral_date=referral_date,
                referral_source=source,
                primary_need=need,
                assessment_factors=factors,
                section47=tuple(section47),
                plans=tuple(plans),
                closure_date=closure_date,
                closure_reason=closure_reason,
            )
        except ValidationError as exc:  # pragma: no cover - every value was checked above
            self.validation_failed(el, path, exc, skip)
            return None

    def factors(self, assessments: list[tuple[etree._Element, str]]) -> tuple[str, ...]:
        skip = Effect.EPISODE_SKIPPED
        found: dict[str, None] = {}  # ordered, without repeats
        for el, path in assessments:
            parts = self.group(el, path, _ASSESSMENTS)
            self.lose_all(parts, "Assessments")
            block = self.single(
                parts, "FactorsIdentifiedAtAssessment", el, path, skip, required=False
            )
            if block is None:
                continue
            block_el, block_path = block
            items = self.group(block_el, block_path, _FACTORS).get("AssessmentFactors", [])
            if not items:
                self.problem(
                    block_el.sourceline,
                    block_path,
                    "has no AssessmentFactors: the schema requires at least one",
                    skip,
                )
            for item in items:
                code = self.code_of(item, codes.ASSESSMENT_FACTOR, "assessment-factor", skip)
                if code is not None:
                    found[code] = None
        return tuple(found)

    def section47(self, found: tuple[etree._Element, str]) -> Section47 | None:
        skip = Effect.EPISODE_SKIPPED
        el, path = found
        parts = self.group(el, path, _SECTION47)
        self.lose_all(parts, "Section47")
        start = self.date_of(
            self.single(parts, "S47ActualStartDate", el, path, skip, required=True), skip
        )
        target = self.date_of(
            self.single(parts, "InitialCPCtarget", el, path, skip, required=False), skip
        )
        icpc = self.date_of(
            self.single(parts, "DateOfInitialCPC", el, path, skip, required=False), skip
        )
        if start is None:
            return None
        return Section47(start=start, icpc_target_date=target, icpc_date=icpc)

    def cin_plan(self, found: tuple[etree._Element, str]) -> Plan | None:
        skip = Effect.EPISODE_SKIPPED
        el, path = found
        parts = self.group(el, path, _CIN_PLAN)
        start = self.date_of(
            self.single(parts, "CINPlanStartDate", el, path, skip, required=True), skip
        )
        end = self.date_of(
            self.single(parts, "CINPlanEndDate", el, path, skip, required=False), skip
        )
        if start is None:
            return None
        return Plan(kind=PlanKind.CHILD_IN_NEED, period=Period(start=start, end=end))

    def cp_plan(self, found: tuple[etree._Element, str], kind: PlanKind) -> Plan | None:
        skip = Effect.EPISODE_SKIPPED
        el, path = found
        parts = self.group(el, path, _CP_PLAN)
        self.lose_all(parts, "ChildProtectionPlans")
        start = self.date_of(
            self.single(parts, "CPPstartDate", el, path, skip, required=True), skip
        )
        end = self.date_of(self.single(parts, "CPPendDate", el, path, skip, required=False), skip)
        category = self.code_of(
            self.single(parts, "InitialCategoryOfAbuse", el, path, skip, required=True),
            codes.ABUSE_CATEGORY,
            "abuse-category",
            skip,
        )
        if start is None or category is None:
            return None
        return Plan(
            kind=kind, period=Period(start=start, end=end), category=AbuseCategory(category)
        )

    # --- the message ---------------------------------------------------------------------------

    def message(
        self, child_id: str, person: _PersonFacts, episodes: list[SocialCareEpisode]
    ) -> CanonicalMessage | None:
        header = self.state.header
        la_code = header.la_code
        identifiers: list[PersonIdentifier] = [LaChildId(la_code=la_code, value=child_id)]
        if person.upn is not None:
            identifiers.append(Upn(value=person.upn))
        if person.former_upn is not None:
            identifiers.append(Upn(value=person.former_upn, former=True))
        message_id = f"cin-census-{la_code}-{header.year or 'unknown'}-child-{self.index}"
        try:
            facts: list[Fact] = [
                Person(
                    id=CHILD_FACT,
                    identifiers=tuple(identifiers),
                    birth_date=person.birth_date,
                    sex=person.sex,
                    ethnicity=person.ethnicity,
                ),
                Organisation(
                    id=COUNCIL_FACT, kind=OrganisationKind.LOCAL_AUTHORITY, la_code=la_code
                ),
                *episodes,
            ]
            return CanonicalMessage(
                message_id=message_id,
                kind=MessageKind.CIN_CENSUS_CHILD,
                subject=CHILD_FACT,
                facts=tuple(facts),
                provenance=Provenance(
                    organisation=la_code,
                    system=partner_id(la_code),
                    source_format=SOURCE_FORMAT,
                    source_message_id=message_id,
                    received_at=self.state.received_at,
                ),
                unmapped=tuple(self.unmapped),
            )
        except ValidationError as exc:  # pragma: no cover - every value was checked above
            self.validation_failed(
                None, f"/Message/Children/Child[{self.index}]", exc, Effect.CHILD_SKIPPED
            )
            return None

    def validation_failed(
        self, el: etree._Element | None, path: str, exc: ValidationError, effect: Effect
    ) -> None:
        # Pydantic's messages quote the input: name the failing fields only.
        fields = ", ".join(".".join(str(part) for part in e["loc"]) for e in exc.errors())
        line = el.sourceline if el is not None else None
        self.problem(line, path, f"cannot be mapped to the canonical model ({fields})", effect)


@dataclass
class _PersonFacts:
    child_id: str | None = None
    upn: str | None = None
    former_upn: str | None = None
    birth_date: date | None = None
    sex: Sex | None = None
    ethnicity: str | None = None
    unborn: bool = False


def read_child(child: etree._Element, index: int, state: FileState) -> ChildResult:
    """Map one ``<Child>`` (already parsed) of the file ``state`` describes."""
    return _Reader(state, index, thorough=bool(_IRREGULAR(child))).read(child)
