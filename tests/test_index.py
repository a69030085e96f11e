"""Index rules that are pure functions: merging a council's partial episode into the stored one."""

from __future__ import annotations

from datetime import date

from gateway.index import merge_episodes
from schemas.facts import Period, Plan, PlanKind, Section47, SocialCareEpisode


def _episode(**values: object) -> SocialCareEpisode:
    return SocialCareEpisode.model_validate({"id": "e", "subject": "c"} | values)


def test_an_event_adds_to_the_episode_and_replaces_only_its_own_part() -> None:
    """A plan ending replaces that plan; other plans, s47 enquiries and factors are kept."""
    stored = _episode(
        referral_date=date(2024, 11, 2),
        referral_source="3A",
        assessment_factors=("4B",),
        section47=(Section47(start=date(2024, 12, 1)),),
        plans=(
            Plan(kind=PlanKind.CHILD_IN_NEED, period=Period(start=date(2024, 11, 20))),
            Plan(kind=PlanKind.CHILD_PROTECTION, period=Period(start=date(2025, 1, 20))),
        ),
    )
    ended = Plan(
        kind=PlanKind.CHILD_PROTECTION,
        period=Period(start=date(2025, 1, 20), end=date(2025, 7, 21)),
    )
    incoming = _episode(
        referral_date=date(2024, 11, 2), assessment_factors=("15A",), plans=(ended,)
    )
    merged = merge_episodes(stored, incoming)
    assert "3A" == merged.referral_source
    assert ("4B", "15A") == merged.assessment_factors
    assert stored.section47 == merged.section47
    assert [
        (PlanKind.CHILD_IN_NEED, None),
        (PlanKind.CHILD_PROTECTION, date(2025, 7, 21)),
    ] == [(p.kind, p.period.end) for p in merged.plans]


def test_stated_values_win() -> None:
    """A closure the incoming fact states replaces the stored (absent) one."""
    merged = merge_episodes(
        _episode(referral_date=date(2024, 1, 1)),
        _episode(
            referral_date=date(2024, 1, 1), closure_date=date(2024, 6, 1), closure_reason="RC1"
        ),
    )
    assert (date(2024, 6, 1), "RC1") == (merged.closure_date, merged.closure_reason)
