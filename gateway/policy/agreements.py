"""Load and check data-sharing agreements, reporting every problem with file, line and reason.

The checks (docs/ig-officers.md, "Checking agreements", explains each to its readers):

1. **Form**: each file is YAML holding one mapping, with no key given twice; every field is one the
   models in ``schemas/agreement.py`` know, of the right type; every code (lawful basis, purpose,
   message kind, label, obligation, consent rule) is a known one, and every purpose maps to an HL7
   v3-ActReason code.
2. **Structure**: party codes are distinct; flow ids are unique within the agreement; a flow runs
   from one party to another; its preset is known; every element path (the preset's and the flow's
   own) names a fact class of ``schemas.facts`` and one of its fields, or ``<fact>.*``.
3. **Lawful bases** (each basis a flow lists must stand on its own):
   - a flow that can carry health data (``HEALTH_KINDS``, ``HEALTH_CLASSES``, ``HEALTH_LABELS``)
     names an Art 9(2) condition in every basis;
   - Art 9(2) conditions come with the DPA 2018 Schedule 1 condition that authorises them: 9(2)(h)
     with ``sch1-para2``, 9(2)(g) with ``sch1-para18``; 9(2)(b) with none (its Part 1 para 1
     condition is not modelled); a Schedule 1 condition never stands without its Art 9 condition;
   - ``sch1-para18`` declares the age band it protects (``child`` or ``adult-at-risk``) on the flow;
     the reason consent was not sought is never written in an agreement (each request gives its
     own), and an age band or reason on any other basis is an error;
   - Art 6(1)(a) consent needs ``consent: required``; ``sch1-para18`` (sharing without consent)
     cannot be used by a flow that requires consent; Art 6(1)(c) legal obligation names its
     ``statutory_gateway``;
   - ``redisclosure: true`` contradicts the ``NORDSCLCD`` obligation; a label is not both permitted
     and excluded.
4. **Subscriptions** (a flow's ``subscription``, what its recipient chose to be told): every code
   known, each list non-empty, ``message_kinds`` among the flow's kinds, and each facet
   (``crisis_kinds``, ``plan_kinds``, ``meeting_kinds``) only on a flow carrying messages that hold
   such facts.
5. **Across files**: an agreement's id and version are unique; two flows with the same sender,
   recipient, message kind and purpose agree on lawful bases, consent rule, elements, labels and
   subscription (otherwise the decision would depend on which was found first).
6. **Warnings** (reported, but the agreement is still valid and loads): a flow names some fields
   of a fact class but not all its required ones (that fact can never cross); a permitted label that
   is not sensitive (permitting it changes nothing); with partner settings given, a party whose
   partner is not configured or does not speak for the party's organisation.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from gateway.errors import ConfigurationError
from gateway.policy.engine import AgreementSet
from schemas.agreement import (
    DEFER_CROSS_CHECKS,
    ELEMENT_PRESETS,
    FREE_TEXT_ELEMENTS,
    SENSITIVE_LABELS,
    Agreement,
    ConsentRule,
    Flow,
    Party,
    Subscription,
)
from schemas.facts import FACT_CLASSES, CrisisKind, MeetingKind, PlanKind
from schemas.labels import (
    AgeBand,
    Art6Basis,
    Art9Condition,
    Dpa2018Condition,
    LawfulBasis,
    NoConsentReason,
    Obligation,
    Purpose,
    Sensitivity,
)
from schemas.message import MessageKind

# Health data (UK GDPR Art 9): a flow carrying any of these must name an Art 9(2) condition.
HEALTH_KINDS: frozenset[MessageKind] = frozenset({MessageKind.CRISIS_EVENT, MessageKind.REFERRAL})
HEALTH_CLASSES: frozenset[str] = frozenset(
    {"crisis-event", "mental-health-episode", "diagnosis", "risk", "referral"}
)
HEALTH_LABELS: frozenset[Sensitivity] = frozenset(
    {
        Sensitivity.PSY,
        Sensitivity.MH,
        Sensitivity.BH,
        Sensitivity.PSYTHPN,
        Sensitivity.ETH,
        Sensitivity.SUD,
    }
)

# The DPA 2018 Schedule 1 condition each Art 9(2) condition needs (DPA 2018 s10). 9(2)(b) needs a
# Part 1 para 1 condition, which the labels do not model: it stands without one here.
_SCHEDULE_1_FOR: dict[Art9Condition, Dpa2018Condition | None] = {
    Art9Condition.HEALTH_OR_SOCIAL_CARE: Dpa2018Condition.HEALTH_OR_SOCIAL_CARE,
    Art9Condition.SUBSTANTIAL_PUBLIC_INTEREST: Dpa2018Condition.SAFEGUARDING,
    Art9Condition.SOCIAL_PROTECTION: None,
}
_ART9_FOR: dict[Dpa2018Condition, Art9Condition] = {
    Dpa2018Condition.HEALTH_OR_SOCIAL_CARE: Art9Condition.HEALTH_OR_SOCIAL_CARE,
    Dpa2018Condition.SAFEGUARDING: Art9Condition.SUBSTANTIAL_PUBLIC_INTEREST,
}

# Fields of a fact that carry structure, not content: never element paths.
_STRUCTURAL = frozenset({"id", "fact", "labels", "element_labels"})


def _fact_name(cls: type[BaseModel]) -> str:
    return str(cls.model_fields["fact"].default)


# Every fact class and its content fields, by element-class name.
FACT_FIELDS: dict[str, frozenset[str]] = {
    _fact_name(cls): frozenset(f for f in cls.model_fields if f not in _STRUCTURAL)
    for cls in FACT_CLASSES
}
_REQUIRED_FIELDS: dict[str, frozenset[str]] = {
    _fact_name(cls): frozenset(
        f for f, info in cls.model_fields.items() if f not in _STRUCTURAL and info.is_required()
    )
    for cls in FACT_CLASSES
}

# Pydantic locations name fields; these say what a code in each field is, for error messages.
_CODES: dict[str, tuple[str, type[Any]]] = {
    "art6": ("UK GDPR Art 6(1) lawful basis", Art6Basis),
    "art9": ("UK GDPR Art 9(2) condition", Art9Condition),
    "dpa2018": ("DPA 2018 Schedule 1 condition", Dpa2018Condition),
    "age_band": ("age band", AgeBand),
    "no_consent_reason": ("reason for not seeking consent", NoConsentReason),
    "purposes": ("purpose", Purpose),
    "message_kinds": ("message kind", MessageKind),
    "exclude_labels": ("security label", Sensitivity),
    "permit_labels": ("security label", Sensitivity),
    "obligations": ("obligation", Obligation),
    "consent": ("consent rule", ConsentRule),
    "crisis_kinds": ("crisis kind", CrisisKind),
    "plan_kinds": ("plan kind", PlanKind),
    "meeting_kinds": ("meeting kind", MeetingKind),
}


@dataclass(frozen=True, slots=True)
class AgreementProblem:
    """One problem in one agreement file; a warning is reported but does not invalidate it."""

    file: Path
    line: int | None
    reason: str
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: warning: {self.reason}" if self.warning else f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class AgreementCheck:
    """What checking a directory found: the files read, the valid agreements, every problem."""

    files: tuple[Path, ...]
    agreements: tuple[Agreement, ...]
    problems: tuple[AgreementProblem, ...]

    @property
    def errors(self) -> list[AgreementProblem]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[AgreementProblem]:
        return [p for p in self.problems if p.warning]

    @property
    def valid(self) -> bool:
        return not self.errors


# --- YAML nodes, for lines -------------------------------------------------------------------


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _child(node: yaml.Node | None, part: int | str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value  # type: ignore[no-any-return]
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None


def _node_at(root: yaml.Node, loc: tuple[int | str, ...]) -> yaml.Node:
    """The deepest node along ``loc`` (a missing key's line is its mapping's)."""
    node = root
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node = child
    return node


def _duplicate_keys(root: yaml.Node) -> Iterator[tuple[int | None, str]]:
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int | None] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        yield (
                            _line(key),
                            f"key {key.value!r} appears twice in one mapping (also line "
                            f"{seen[key.value]}); YAML would silently keep only the last",
                        )
                    else:
                        seen[key.value] = _line(key)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


# --- Pydantic errors in plain words ----------------------------------------------------------


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    shapes: dict[tuple[str, ...], type[BaseModel]] = {
        (): Agreement,
        ("parties", "#"): Party,
        ("flows", "#"): Flow,
        ("flows", "#", "lawful_bases", "#"): LawfulBasis,
        ("flows", "#", "subscription"): Subscription,
    }
    key = tuple("#" if isinstance(p, int) else p for p in loc)
    return shapes.get(key)


def _field_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _where(loc: tuple[int | str, ...], data: Any) -> str:
    """``flow 'crisis-notice': lawful_bases[0].art6`` for a location in the document."""
    parts = list(loc)
    prefix = ""
    if len(parts) >= 2 and parts[0] == "flows" and isinstance(parts[1], int):
        flows = data.get("flows") if isinstance(data, dict) else None
        flow = flows[parts[1]] if isinstance(flows, list) and parts[1] < len(flows) else None
        flow_id = flow.get("id") if isinstance(flow, dict) else None
        prefix = f"flow {flow_id!r}" if isinstance(flow_id, str) else f"flows[{parts[1]}]"
        parts = parts[2:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    if prefix and text:
        return f"{prefix}: {text}"
    return prefix or text or "the agreement"


def _code_field(loc: tuple[int | str, ...]) -> str | None:
    for part in reversed(loc):
        if isinstance(part, str):
            return part
    return None


def _known_codes(field_name: str, codes: type[Any]) -> str:
    if field_name == "purposes":
        return ", ".join(f"{p.value} (HL7 {_hl7(p) or 'unmapped'})" for p in Purpose)
    return ", ".join(str(c.value) for c in codes)


def _hl7(purpose: Purpose) -> str | None:
    try:
        return purpose.hl7_act_reason
    except KeyError:
        return None


def _describe(error: ErrorDetails, data: Any) -> str | None:
    """One pydantic error in plain words; None for an error that only echoes another."""
    loc = tuple(error["loc"])
    where = _where(loc, data)
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "too_short" and isinstance(value, list) and len(value) >= ctx.get("min_length", 0):
        return None  # pydantic's echo of an item that failed: the item's own error says why
    if kind == "enum":
        field_name = _code_field(loc) or ""
        what, codes = _CODES.get(field_name, ("code", type(None)))
        known = _known_codes(field_name, codes) if codes is not type(None) else ctx["expected"]
        hint = (
            "; purposes are local codes, each mapped to an HL7 v3-ActReason code"
            if field_name == "purposes"
            else ""
        )
        return f"{where}: unknown {what} {value!r}{hint} (known: {known})"
    if kind == "missing":
        return f"{where}: missing (required)"
    if kind == "extra_forbidden":
        name = str(loc[-1])
        model = _model_at(loc[:-1])
        close = difflib.get_close_matches(name, _field_names(model), n=1) if model else []
        suggestion = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{where}: unknown field {name!r}{suggestion}"
    if kind == "string_type" and isinstance(value, bool | int | float):
        return (
            f"{where}: must be text, but YAML read {value!r} as a "
            f"{'boolean' if isinstance(value, bool) else 'number'}; put it in quotes"
        )
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}"


# --- One file --------------------------------------------------------------------------------


@dataclass(slots=True)
class _FlowAt:
    """A flow that passed the structural checks, where it is, for the cross-file checks."""

    flow: Flow
    file: Path
    line: int | None
    agreement: str


@dataclass(slots=True)
class _File:
    path: Path
    problems: list[AgreementProblem] = field(default_factory=list)
    agreement: Agreement | None = None
    flows: list[_FlowAt] = field(default_factory=list)
    id_line: int | None = None

    def problem(self, line: int | None, reason: str, *, warning: bool = False) -> None:
        self.problems.append(AgreementProblem(self.path, line, reason, warning))


def _element_problem(path: str) -> str | None:
    fact, dot, name = path.partition(".")
    if not dot or not name:
        return f"element {path!r} is not <fact>.<field> or <fact>.*"
    if fact not in FACT_FIELDS:
        known = ", ".join(sorted(FACT_FIELDS))
        return f"element {path!r} names an unknown fact class {fact!r} (known: {known})"
    if name != "*" and name not in FACT_FIELDS[fact]:
        fields = ", ".join(sorted(FACT_FIELDS[fact]))
        return f"element {path!r}: {fact} has no field {name!r} (fields: {fields})"
    return None


def health_reasons(flow: Flow) -> list[str]:
    """Why a flow can carry health data (empty when it cannot): kinds, element classes, labels."""
    reasons = [f"message kind {k.value}" for k in flow.message_kinds if k in HEALTH_KINDS]
    classes = sorted(
        {p.partition(".")[0] for p in flow.allowed_elements} & HEALTH_CLASSES,
    )
    reasons.extend(f"{c} elements" for c in classes)
    labels = sorted(label.value for label in flow.permit_labels & HEALTH_LABELS)
    reasons.extend(f"permitted label {label}" for label in labels)
    return reasons


def _check_structure(out: _File, flow: Flow, node: yaml.Node, parties: Collection[str]) -> bool:
    """Ends, preset and element paths; True unless the flow cannot be checked further (an end
    that is not a party, or no usable preset or element list)."""
    ok = True
    label = f"flow {flow.id!r}"
    for end, key in ((flow.from_, "from"), (flow.to, "to")):
        if end not in parties:
            known = ", ".join(dict.fromkeys(parties)) or "none"
            out.problem(
                _line(_child(node, key) or node),
                f"{label}: {key}: {end!r} is not a party to this agreement (parties: {known})",
            )
            ok = False
    if ok and flow.from_ == flow.to:
        out.problem(_line(_child(node, "to")), f"{label}: from and to are the same party")
    if flow.preset is None and not flow.elements:
        out.problem(_line(node), f"{label}: names neither a preset nor an element list")
        ok = False
    if flow.preset is not None:
        preset_line = _line(_child(node, "preset"))
        if flow.preset not in ELEMENT_PRESETS:
            known = ", ".join(sorted(ELEMENT_PRESETS))
            out.problem(preset_line, f"{label}: unknown preset {flow.preset!r} (known: {known})")
            ok = False
        else:
            for path in ELEMENT_PRESETS[flow.preset]:
                if (reason := _element_problem(path)) is not None:
                    out.problem(preset_line, f"{label}: preset {flow.preset!r}: {reason}")
                    ok = False
    elements = _child(node, "elements")
    for i, path in enumerate(flow.elements):
        if (reason := _element_problem(path)) is not None:
            out.problem(_line(_child(elements, i) or elements), f"{label}: {reason}")
    return ok


def _check_bases(out: _File, flow: Flow, node: yaml.Node) -> None:
    label = f"flow {flow.id!r}"
    bases = _child(node, "lawful_bases")
    health = health_reasons(flow)
    for i, basis in enumerate(flow.lawful_bases):
        line = _line(_child(bases, i) or bases)
        where = f"{label}: lawful_bases[{i}] ({basis.code})"
        if health and basis.art9 is None:
            out.problem(
                line,
                f"{where}: the flow can carry health data ({', '.join(health)}), so every "
                "lawful basis names a UK GDPR Art 9(2) condition (art9: 9(2)(h), 9(2)(g) or "
                "9(2)(b))",
            )
        if basis.art9 is not None:
            needed = _SCHEDULE_1_FOR[basis.art9]
            if basis.dpa2018 != needed:
                wanted = f"dpa2018: {needed.value}" if needed else "no dpa2018 condition"
                out.problem(line, f"{where}: Art {basis.art9.value} goes with {wanted}")
        elif basis.dpa2018 is not None:
            out.problem(
                line,
                f"{where}: a DPA 2018 Schedule 1 condition ({basis.dpa2018.value}) needs its "
                f"Art 9(2) condition (art9: {_ART9_FOR[basis.dpa2018].value})",
            )
        para18 = basis.dpa2018 is Dpa2018Condition.SAFEGUARDING
        if para18 and basis.age_band is None:
            out.problem(
                line,
                f"{where}: sch1-para18 protects children or adults at risk: declare which "
                "(age_band: child or adult-at-risk); each request names the same age band",
            )
        if not para18 and basis.age_band is not None:
            out.problem(line, f"{where}: age_band only applies to sch1-para18")
        if basis.no_consent_reason is not None:
            out.problem(
                line,
                f"{where}: no_consent_reason is decided case by case, so each request names it; "
                "an agreement cannot settle it in advance",
            )
        if para18 and flow.consent is ConsentRule.REQUIRED:
            out.problem(
                line,
                f"{where}: sch1-para18 is for sharing without consent, but the flow's consent "
                "rule is 'required'",
            )
        if basis.art6 is Art6Basis.CONSENT and flow.consent is not ConsentRule.REQUIRED:
            out.problem(
                line,
                f"{where}: Art 6(1)(a) consent as the lawful basis needs 'consent: required' "
                f"(the flow says {flow.consent.value!r})",
            )
        if basis.art6 is Art6Basis.LEGAL_OBLIGATION and not basis.statutory_gateway:
            out.problem(
                line,
                f"{where}: Art 6(1)(c) legal obligation names the law that imposes it "
                "(statutory_gateway)",
            )


def _check_flow(out: _File, flow: Flow, node: yaml.Node) -> None:
    label = f"flow {flow.id!r}"
    purposes = _child(node, "purposes")
    for i, purpose in enumerate(flow.purposes):
        if _hl7(purpose) is None:
            out.problem(
                _line(_child(purposes, i) or purposes),
                f"{label}: purpose {purpose.value!r} has no HL7 v3-ActReason mapping",
            )
    _check_bases(out, flow, node)
    both = sorted(label.value for label in flow.permit_labels & flow.exclude_labels)
    if both:
        out.problem(
            _line(_child(node, "permit_labels")),
            f"{label}: label(s) {', '.join(both)} both permitted and excluded",
        )
    if flow.redisclosure and Obligation.NORDSCLCD in flow.obligations:
        out.problem(
            _line(_child(node, "redisclosure")),
            f"{label}: redisclosure: true contradicts the NORDSCLCD obligation (no redisclosure "
            "without consent); list the obligations that apply instead",
        )
    plain = sorted(label.value for label in flow.permit_labels - SENSITIVE_LABELS)
    if plain:
        out.problem(
            _line(_child(node, "permit_labels")),
            f"{label}: {', '.join(plain)} is not a sensitive label: it crosses unless excluded, "
            "so permitting it changes nothing",
            warning=True,
        )
    _check_never_crosses(out, flow, node)
    _check_subscription(out, flow, node)


# Which message kinds can hold the facts each subscription facet narrows by.
_FACET_KINDS: dict[str, frozenset[MessageKind]] = {
    "crisis_kinds": frozenset({MessageKind.CRISIS_EVENT}),
    "plan_kinds": frozenset(
        {MessageKind.CP_PLAN_STARTED, MessageKind.CP_PLAN_ENDED, MessageKind.CHILD_STATUS}
    ),
    "meeting_kinds": frozenset(
        {MessageKind.MEETING_INVITATION, MessageKind.MEETING_REPLY, MessageKind.ICPC_SCHEDULED}
    ),
}


def _check_subscription(out: _File, flow: Flow, node: yaml.Node) -> None:
    """A subscription narrows its own flow: it names only kinds the flow carries, and each
    facet only where the flow carries messages that hold such facts."""
    subscription = flow.subscription
    if subscription is None:
        return
    label = f"flow {flow.id!r}: subscription"
    here = _child(node, "subscription")
    listed = _child(here, "message_kinds")
    carried = ", ".join(k.value for k in flow.message_kinds)
    for i, kind in enumerate(subscription.message_kinds or ()):
        if kind not in flow.message_kinds:
            out.problem(
                _line(_child(listed, i) or listed or here),
                f"{label}.message_kinds[{i}]: {kind.value!r} is not a kind this flow carries "
                f"({carried}); a subscription can only narrow its flow",
            )
    kinds = set(subscription.message_kinds or ()) & set(flow.message_kinds)
    kinds = kinds or set(flow.message_kinds)  # a wrong kind is reported once, above
    for facet, holders in _FACET_KINDS.items():
        if getattr(subscription, facet) is not None and not kinds & holders:
            out.problem(
                _line(_child(here, facet) or here),
                f"{label}.{facet}: the flow carries no message that holds them (it carries "
                f"{', '.join(sorted(k.value for k in kinds))}; {facet} narrow "
                f"{', '.join(sorted(k.value for k in holders))})",
            )


def _check_never_crosses(out: _File, flow: Flow, node: yaml.Node) -> None:
    """Warn about fact classes the flow names but whose required fields it does not permit."""
    allowed = flow.allowed_elements
    for fact, fields in FACT_FIELDS.items():
        permitted = {
            f
            for f in fields
            if f"{fact}.{f}" in allowed
            or (f"{fact}.*" in allowed and f"{fact}.{f}" not in FREE_TEXT_ELEMENTS)
        }
        missing = sorted(_REQUIRED_FIELDS[fact] - permitted)
        if permitted and missing:
            where = _child(node, "elements") or _child(node, "preset") or node
            out.problem(
                _line(where),
                f"flow {flow.id!r}: names {fact} elements but not "
                f"{', '.join(f'{fact}.{m}' for m in missing)}, without which a {fact} cannot "
                f"be sent, so no {fact} will ever cross (free text is never reached by "
                f"{fact}.*: name it)",
                warning=True,
            )


def _check_parties(
    out: _File,
    data: dict[str, Any],
    root: yaml.Node,
    partners: Mapping[str, Collection[str]] | None,
) -> list[str]:
    """Party codes (reporting duplicates and, with partner settings, unconfigured partners)."""
    raw = data.get("parties")
    nodes = _child(root, "parties")
    codes: list[str] = []
    for i, party in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(party, dict) or not isinstance(party.get("code"), str):
            continue
        node = _child(nodes, i)
        code = party["code"]
        if code in codes:
            out.problem(_line(_child(node, "code")), f"parties[{i}]: party {code!r} listed twice")
        codes.append(code)
        partner = party.get("partner")
        if partners is None or not isinstance(partner, str):
            continue
        if partner not in partners:
            out.problem(
                _line(_child(node, "partner")),
                f"parties[{i}]: partner {partner!r} is not configured",
                warning=True,
            )
        elif code not in partners[partner]:
            out.problem(
                _line(_child(node, "partner")),
                f"parties[{i}]: partner {partner!r} does not speak for organisation {code!r}",
                warning=True,
            )
    return codes


def _read(out: _File) -> tuple[yaml.Node, dict[str, Any]] | None:
    """The file's node tree (for lines) and its data; None, with the problem, if unreadable."""
    try:
        text = out.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        out.problem(None, f"cannot read: {getattr(exc, 'strerror', None) or exc}")
        return None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        out.problem(line, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")
        return None
    if root is None or not isinstance(data, dict):
        out.problem(1, "an agreement file holds one mapping (id, version, title, parties, flows)")
        return None
    return root, data


def _validation_problems(out: _File, exc: ValidationError, root: yaml.Node, data: Any) -> None:
    for error in exc.errors(include_url=False):
        reason = _describe(error, data)
        if reason is not None:
            out.problem(_line(_node_at(root, tuple(error["loc"]))), reason)


def _check_flows(out: _File, data: dict[str, Any], root: yaml.Node, parties: list[str]) -> None:
    raw_flows = data.get("flows")
    flow_nodes = _child(root, "flows")
    ids: dict[str, int | None] = {}
    agreement_name = f"{data.get('id')} v{data.get('version')}"
    for i, raw in enumerate(raw_flows if isinstance(raw_flows, list) else []):
        node = _child(flow_nodes, i)
        if node is None:
            continue
        try:
            flow = Flow.model_validate(raw, context={DEFER_CROSS_CHECKS: True})
        except ValidationError:
            continue  # reported with the whole agreement
        id_line = _line(_child(node, "id"))
        if flow.id in ids:
            out.problem(id_line, f"flow id {flow.id!r} used twice (also line {ids[flow.id]})")
        else:
            ids[flow.id] = id_line
        if _check_structure(out, flow, node, parties):
            _check_flow(out, flow, node)
            out.flows.append(_FlowAt(flow, out.path, _line(node), agreement_name))


def _check_file(path: Path, partners: Mapping[str, Collection[str]] | None) -> _File:
    out = _File(path)
    read = _read(out)
    if read is None:
        return out
    root, data = read
    out.id_line = _line(_child(root, "id") or root)
    for line, reason in _duplicate_keys(root):
        out.problem(line, reason)
    try:
        Agreement.model_validate(data, context={DEFER_CROSS_CHECKS: True})
    except ValidationError as exc:
        _validation_problems(out, exc, root, data)
    _check_flows(out, data, root, _check_parties(out, data, root, partners))
    if not any(not p.warning for p in out.problems):
        try:
            out.agreement = Agreement.model_validate(data)
        except ValidationError as exc:  # a rule the checks above missed: still reported
            _validation_problems(out, exc, root, data)
    return out


# --- Across files ----------------------------------------------------------------------------


def _differences(a: Flow, b: Flow) -> list[str]:
    found = []
    if set(a.lawful_bases) != set(b.lawful_bases):
        found.append("lawful bases")
    if a.consent is not b.consent:
        found.append("consent rule")
    if a.allowed_elements != b.allowed_elements:
        found.append("elements")
    if (a.exclude_labels, a.permit_labels) != (b.exclude_labels, b.permit_labels):
        found.append("labels")
    if a.subscription != b.subscription:
        found.append("subscriptions")
    return found


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _overlaps(flows: list[_FlowAt]) -> list[AgreementProblem]:
    covering: dict[tuple[str, str, MessageKind, Purpose], list[int]] = defaultdict(list)
    for i, at in enumerate(flows):
        for kind in at.flow.message_kinds:
            for purpose in at.flow.purposes:
                covering[(at.flow.from_, at.flow.to, kind, purpose)].append(i)
    shared: dict[tuple[int, int], list[tuple[MessageKind, Purpose]]] = defaultdict(list)
    for (_sender, _recipient, kind, purpose), indices in covering.items():
        for n, first in enumerate(indices):
            for second in indices[n + 1 :]:
                shared[(first, second)].append((kind, purpose))
    problems = []
    for (first, second), keys in sorted(shared.items()):
        a, b = flows[first], flows[second]
        differ = _differences(a.flow, b.flow)
        if not differ:
            continue
        kinds = ", ".join(sorted({k.value for k, _ in keys}))
        purposes = ", ".join(sorted({p.value for _, p in keys}))
        problems.append(
            AgreementProblem(
                b.file,
                b.line,
                f"flow {b.flow.id!r} ({b.agreement}) contradicts flow {a.flow.id!r} "
                f"({a.agreement}, {a.file}:{a.line}): both cover {kinds} messages from "
                f"{b.flow.from_} to {b.flow.to} for {purposes}, but their "
                f"{_join(differ)} differ, so the decision would depend on which is "
                "found first",
            )
        )
    return problems


def check_directory(
    directory: Path, *, partners: Mapping[str, Collection[str]] | None = None
) -> AgreementCheck:
    """Check every agreement file (``*.yaml``, ``*.yml``) in ``directory``, and them together.

    ``partners`` (partner id to the organisation codes it speaks for), when given, lets the check
    warn about parties whose partner is not configured.
    """
    if not directory.is_dir():
        problem = AgreementProblem(directory, None, "agreements directory does not exist")
        return AgreementCheck((), (), (problem,))
    paths = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    files = [_check_file(path, partners) for path in paths]
    problems = [p for f in files for p in f.problems]
    agreements: list[Agreement] = []
    seen: dict[tuple[str, int], _File] = {}
    for checked in files:
        agreement = checked.agreement
        if agreement is None:
            continue
        key = (agreement.id, agreement.version)
        if key in seen:
            first = seen[key]
            problems.append(
                AgreementProblem(
                    checked.path,
                    checked.id_line,
                    f"agreement {agreement.id!r} version {agreement.version} is also defined "
                    f"in {first.path}:{first.id_line}; an id and version name one text",
                )
            )
            continue
        seen[key] = checked
        agreements.append(agreement)
    problems.extend(_overlaps([at for f in files for at in f.flows]))
    problems.sort(key=lambda p: (str(p.file), p.line or 0))
    return AgreementCheck(tuple(paths), tuple(agreements), tuple(problems))


def parse_agreement_file(path: Path) -> tuple[Agreement | None, list[AgreementProblem]]:
    """Check one file on its own; the agreement (None if it has errors) and every problem."""
    checked = _check_file(path, None)
    return checked.agreement, checked.problems


def check_agreements(
    directory: Path, *, partners: Mapping[str, Collection[str]] | None = None
) -> tuple[list[Agreement], list[AgreementProblem]]:
    """Every valid agreement in ``directory`` and every problem found (warnings included)."""
    checked = check_directory(directory, partners=partners)
    return list(checked.agreements), list(checked.problems)


def load_agreements(directory: Path) -> AgreementSet:
    """Every agreement in ``directory``, indexed for ``decide``; ConfigurationError listing every
    error otherwise."""
    checked = check_directory(directory)
    if not checked.valid:
        raise ConfigurationError(
            "invalid agreements:\n" + "\n".join(str(p) for p in checked.errors)
        )
    return AgreementSet(checked.agreements)
