"""Subscriptions in agreement files: a bad one is reported with its line and reason; the rule
that decides whether a message is one the recipient subscribed to, facet by facet."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from gateway.policy.agreements import check_agreements, load_agreements
from gateway.policy.engine import Decision, Outcome, check_subscription, decide, unsubscribed
from gateway.settings import bundled
from schemas.agreement import Subscription
from schemas.facts import (
    CrisisEvent,
    CrisisKind,
    Fact,
    Meeting,
    MeetingKind,
    Period,
    Plan,
    PlanKind,
    SocialCareEpisode,
)
from schemas.labels import Purpose
from schemas.message import MessageKind

# Line numbers below are this text's.
BASE = """\
id: subscribed
version: 1
title: Test agreement with a subscription
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
    subscription:
      crisis_kinds: [admission, discharge]
"""


def _problems(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "a.yaml").write_text(text, encoding="utf-8")
    _, problems = check_agreements(tmp_path)
    return [str(p).removeprefix(f"{tmp_path}/") for p in problems]


def _edit(old: str, new: str) -> str:
    assert 1 == BASE.count(old), old
    return BASE.replace(old, new)


def test_a_valid_subscription_loads(tmp_path: Path) -> None:
    assert [] == _problems(tmp_path, BASE)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "[admission, discharge]",
            "[admission, sectioned]",
            "a.yaml:23: flow 'crisis': subscription.crisis_kinds[1]: unknown crisis kind "
            "'sectioned' (known: crisis-team-contact, self-harm-attendance, detention, admission, "
            "discharge, missed-appointment)",
        ),
        (
            "      crisis_kinds: [admission, discharge]\n",
            "      crisis_kinds: [admission]\n      colour: blue\n",
            "a.yaml:24: flow 'crisis': subscription.colour: unknown field 'colour'",
        ),
        (
            "      crisis_kinds: [admission, discharge]\n",
            "      crisis_kind: [admission]\n",
            "a.yaml:23: flow 'crisis': subscription.crisis_kind: unknown field 'crisis_kind' "
            "(did you mean 'crisis_kinds'?)",
        ),
        (
            "[admission, discharge]",
            "[]",
            "a.yaml:23: flow 'crisis': subscription.crisis_kinds: Tuple should have at least 1 "
            "item after validation, not 0",
        ),
        (
            "      crisis_kinds: [admission, discharge]\n",
            "      message_kinds: [referral]\n",
            "a.yaml:23: flow 'crisis': subscription.message_kinds[0]: 'referral' is not a kind "
            "this flow carries (crisis-event); a subscription can only narrow its flow",
        ),
        (
            "      crisis_kinds: [admission, discharge]\n",
            "      meeting_kinds: [core-group]\n",
            "a.yaml:23: flow 'crisis': subscription.meeting_kinds: the flow carries no message "
            "that holds them (it carries crisis-event; meeting_kinds narrow icpc-scheduled, "
            "meeting-invitation, meeting-reply)",
        ),
    ],
    ids=["unknown-code", "unknown-field", "misspelt-field", "empty-list", "kind", "facet"],
)
def test_a_bad_subscription_names_its_line(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert [expected] == _problems(tmp_path, _edit(old, new))


def test_two_flows_for_the_same_share_must_agree_on_the_subscription(tmp_path: Path) -> None:
    """Otherwise what the recipient is told would depend on which flow is found first."""
    other = (
        BASE.replace("id: subscribed", "id: other")
        .replace("[admission, discharge]", "[detention]")
        .replace("- id: crisis\n", "- id: crisis-too\n")
    )
    (tmp_path / "b.yaml").write_text(other, encoding="utf-8")
    problems = _problems(tmp_path, BASE)
    assert 1 == len(problems)
    assert "their subscriptions differ" in problems[0]


# --- the rule ----------------------------------------------------------------------------------

AT = datetime(2025, 3, 14, 22, 40, tzinfo=UTC)


def _crisis(kind: CrisisKind) -> CrisisEvent:
    return CrisisEvent(id="c", kind=kind, subject="p", period=Period(start=AT))


def _plan(kind: PlanKind) -> SocialCareEpisode:
    plan = Plan(kind=kind, period=Period(start=date(2025, 1, 20)))
    return SocialCareEpisode(id="e", subject="p", plans=(plan,))


def _meeting(kind: MeetingKind) -> Meeting:
    return Meeting(id="m", kind=kind, subject="p", start=AT)


@pytest.mark.parametrize(
    ("subscription", "kind", "facts", "missing"),
    [
        (Subscription(), MessageKind.CRISIS_EVENT, [_crisis(CrisisKind.DETENTION)], None),
        (
            Subscription(crisis_kinds=(CrisisKind.ADMISSION,)),
            MessageKind.CRISIS_EVENT,
            [_crisis(CrisisKind.DETENTION)],
            "crisis events of kind detention",
        ),
        (
            Subscription(crisis_kinds=(CrisisKind.ADMISSION,)),
            MessageKind.CRISIS_EVENT,
            [
                _crisis(CrisisKind.DETENTION),
                _crisis(CrisisKind.ADMISSION).model_copy(update={"id": "c2"}),
            ],
            None,
        ),
        (
            Subscription(plan_kinds=(PlanKind.CHILD_PROTECTION,)),
            MessageKind.CHILD_STATUS,
            [_plan(PlanKind.CHILD_IN_NEED)],
            "plans of kind child-in-need",
        ),
        (
            Subscription(plan_kinds=(PlanKind.CHILD_PROTECTION,)),
            MessageKind.CP_PLAN_STARTED,
            [_plan(PlanKind.CHILD_PROTECTION)],
            None,
        ),
        (
            Subscription(meeting_kinds=(MeetingKind.INITIAL_CP_CONFERENCE,)),
            MessageKind.MEETING_INVITATION,
            [_meeting(MeetingKind.CORE_GROUP)],
            "meetings of kind core-group",
        ),
        (
            # An ICPC scheduled holds no meeting fact: it is an initial conference.
            Subscription(meeting_kinds=(MeetingKind.CORE_GROUP,)),
            MessageKind.ICPC_SCHEDULED,
            [],
            "meetings of kind initial-cp-conference",
        ),
        (
            Subscription(message_kinds=(MessageKind.ALLOCATED_WORKER_CHANGED,)),
            MessageKind.CP_PLAN_STARTED,
            [_plan(PlanKind.CHILD_PROTECTION)],
            "cp-plan-started messages",
        ),
        (
            # A facet narrows only messages holding such facts.
            Subscription(crisis_kinds=(CrisisKind.ADMISSION,)),
            MessageKind.CP_PLAN_STARTED,
            [_plan(PlanKind.CHILD_PROTECTION)],
            None,
        ),
    ],
)
def test_what_a_subscription_leaves_out(
    subscription: Subscription, kind: MessageKind, facts: list[Fact], missing: str | None
) -> None:
    assert missing == unsubscribed(subscription, kind, facts)


def test_a_refusal_keeps_the_flow_and_a_refusal_stays_one() -> None:
    """not-subscribed names the agreement and flow; a refusal or a flow without a subscription
    passes unchanged."""
    agreements = load_agreements(bundled("agreements"))
    permit = decide(
        agreements,
        sender="RX9",
        recipient="999",
        kind=MessageKind.CRISIS_EVENT,
        purpose=None,
    )
    assert permit is check_subscription(permit, MessageKind.CRISIS_EVENT, [])
    care = decide(
        agreements,
        sender="RX9",
        recipient="999",
        kind=MessageKind.CRISIS_EVENT,
        purpose=Purpose.CARE_COORDINATION,
    )
    refused = check_subscription(care, MessageKind.CRISIS_EVENT, [_crisis(CrisisKind.DETENTION)])
    assert (Outcome.REFUSE, "not-subscribed", "hospital-stays-for-care-planning") == (
        refused.outcome,
        refused.reason_code,
        refused.flow.id if refused.flow else None,
    )
    no = Decision(Outcome.REFUSE, "no-agreement", "none")
    assert no is check_subscription(no, MessageKind.CRISIS_EVENT, [_crisis(CrisisKind.DETENTION)])
