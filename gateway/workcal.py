"""Working time: office hours, England and Wales bank holidays, and a clock tests can move.

Safeguarding deadlines are counted in working time: an unacknowledged referral is escalated after
so many *working hours*, an initial child protection conference is due within 15 *working days*
of the strategy discussion (Working Together to Safeguard Children 2023), and out of hours a
practitioner must be given the emergency duty team rather than an office number. Bank holidays
come from the ``holidays`` package (kept current by its maintainers, so no hand-kept list here);
the arithmetic over them is a few lines and stays here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Annotated
from zoneinfo import ZoneInfo

import holidays
from pydantic import BaseModel, ConfigDict, Field, model_validator

Clock = Callable[[], datetime]  # returns an aware datetime; tests pass a controllable one


def system_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)


class WorkingHoursSettings(BaseModel):
    """When the organisations' offices are open (``workflows.working_hours`` in the config)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "Europe/London"
    start: time = time(9, 0)
    end: time = time(17, 0)
    weekdays: Annotated[tuple[int, ...], Field(min_length=1)] = (0, 1, 2, 3, 4)  # Monday is 0
    # Bank holidays: the ``holidays`` package's country and subdivision ("ENG" covers England
    # and Wales' shared list; "SCT", "NIR" for the others).
    country: str = "GB"
    subdivision: str | None = "ENG"
    extra_closed_days: tuple[date, ...] = ()  # e.g. a council's own closure days

    @model_validator(mode="after")
    def _valid(self) -> WorkingHoursSettings:
        if self.end <= self.start:
            raise ValueError("working_hours.end must be after working_hours.start")
        if any(not 0 <= d <= 6 for d in self.weekdays):
            raise ValueError("working_hours.weekdays are 0 (Monday) to 6 (Sunday)")
        ZoneInfo(self.timezone)  # raises for an unknown zone
        return self


@dataclass(frozen=True)
class WorkingCalendar:
    """Working hours and days, with the arithmetic deadlines need. All inputs are aware."""

    settings: WorkingHoursSettings = field(default_factory=WorkingHoursSettings)

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    def _holidays(self, year: int) -> holidays.HolidayBase:
        return _holiday_table(self.settings.country, self.settings.subdivision, year)

    def is_working_day(self, day: date) -> bool:
        """A weekday the offices open that is not a bank holiday or a closure day."""
        return (
            day.weekday() in self.settings.weekdays
            and day not in self._holidays(day.year)
            and day not in self.settings.extra_closed_days
        )

    def is_working_time(self, at: datetime) -> bool:
        """Whether ``at`` falls inside office hours on a working day."""
        local = at.astimezone(self.zone)
        return (
            self.is_working_day(local.date())
            and self.settings.start <= local.time() < self.settings.end
        )

    def add_working_days(self, start: date, days: int) -> date:
        """The date ``days`` working days after ``start`` (``start`` itself not counted)."""
        if days < 0:
            raise ValueError("days must not be negative")
        day = start
        while days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                days -= 1
        return day

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` of office time after ``start``: time out of hours does not count.

        A start out of hours counts from the next opening. The result is in UTC.
        """
        if hours < 0:
            raise ValueError("hours must not be negative")
        remaining = timedelta(hours=hours)
        local = start.astimezone(self.zone)
        for _ in range(3660):  # ten years of days: a calendar with no working day is refused
            day = local.date()
            opens = datetime.combine(day, self.settings.start, self.zone)
            closes = datetime.combine(day, self.settings.end, self.zone)
            if self.is_working_day(day) and local < closes:
                begin = max(local, opens)
                if begin + remaining <= closes:
                    return (begin + remaining).astimezone(UTC)
                remaining -= closes - begin
            local = datetime.combine(day + timedelta(days=1), time(0, 0), self.zone)
        raise ValueError("the working calendar has no working time in ten years")

    def next_opening(self, at: datetime) -> datetime:
        """``at`` itself if in office hours, else when the offices next open (UTC)."""
        return self.add_working_hours(at, 0)


def _holiday_table(country: str, subdivision: str | None, year: int) -> holidays.HolidayBase:
    return _cached_holidays(country, subdivision, year)


_TABLES: dict[tuple[str, str | None, int], holidays.HolidayBase] = {}


def _cached_holidays(country: str, subdivision: str | None, year: int) -> holidays.HolidayBase:
    key = (country, subdivision, year)
    table = _TABLES.get(key)
    if table is None:
        table = _TABLES[key] = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return table
