"""Service hours and the expected response time, on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from earful.engagement import hours
from earful.errors import BadInput

WEEKDAYS = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
PARIS = hours.parse("Europe/Paris", WEEKDAYS)
FRIDAY_NIGHT = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)  # 23:00 in Paris
TUESDAY_10 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # 10:00 in Paris


def answered(n: int, minutes: float, before: datetime) -> list[tuple[datetime, datetime]]:
    """``n`` conversations answered in ``minutes`` each, at 10:00 Paris on past weekdays."""
    out = []
    day = before - timedelta(days=1)
    while len(out) < n:
        if day.weekday() < 5:
            start = day.replace(hour=9, minute=0)  # 10:00 Paris in November
            for _ in range(min(20, n - len(out))):
                out.append((start, start + timedelta(minutes=minutes)))
        day -= timedelta(days=1)
    return out


def test_working_minutes_skip_the_night_and_the_weekend() -> None:
    friday_16 = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    monday_10 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert hours.working_minutes(PARIS, friday_16, monday_10) == 120
    assert hours.add_working(PARIS, friday_16, 90) == datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
    assert not hours.is_open(PARIS, FRIDAY_NIGHT)


def test_outside_hours_the_promise_is_monday_after_the_measured_wait() -> None:
    e = hours.expect(PARIS, FRIDAY_NIGHT, waiting=0, samples=answered(10, 25, FRIDAY_NIGHT),
                     target_minutes=60)  # fmt: skip
    assert e.open_now is False and e.measured_minutes == pytest.approx(25)
    assert e.answer_by == datetime(2026, 11, 30, 8, 30, tzinfo=UTC)  # 09:25 → 09:30 Paris
    assert hours.should_acknowledge(True, 0, e)
    assert hours.ack_text(PARIS, e, FRIDAY_NIGHT) == (
        "Thanks for reaching out! Our team is away right now. "
        "A person will answer you by 09:30 CET on Monday 30 November."
    )


def test_a_long_queue_in_hours_pushes_the_promise_to_tomorrow() -> None:
    samples = answered(200, 20, TUESDAY_10)  # 200 answers in 10 working days: 1 per 24 min
    e = hours.expect(PARIS, TUESDAY_10, waiting=20, samples=samples, target_minutes=60)
    assert e.open_now is True
    assert e.backlog_minutes == pytest.approx(480)
    assert e.answer_by == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # a working day later
    assert hours.should_acknowledge(True, 15, e)
    assert not hours.should_acknowledge(True, 25, e)  # the queue is not that long
    assert not hours.should_acknowledge(False, 15, e)  # acknowledgements are off
    assert "busier than usual" in (hours.ack_text(PARIS, e, TUESDAY_10) or "")
    assert "10:00 CET tomorrow" in (hours.ack_text(PARIS, e, TUESDAY_10) or "")


def test_a_desk_one_day_old_counts_its_answers_over_that_day_not_a_fortnight() -> None:
    monday_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 Paris, its first day
    starts = [monday_10 - timedelta(hours=1) + timedelta(minutes=12 * i) for i in range(40)]
    samples = [(a, a + timedelta(minutes=10)) for a in starts]  # 09:00 to 16:58 Paris
    e = hours.expect(PARIS, TUESDAY_10, waiting=10, samples=samples, target_minutes=60)
    # 40 answers in the 540 staffed minutes since its first post: 10 waiting is 135
    # minutes of work, not the 1,200 that dividing by the fortnight's 4,800 said.
    assert e.backlog_minutes == pytest.approx(135)
    assert e.answer_by == datetime(2026, 11, 24, 11, 15, tzinfo=UTC)  # 12:15 Paris


def test_without_measurements_the_target_is_the_promise() -> None:
    e = hours.expect(PARIS, TUESDAY_10, waiting=3, samples=[], target_minutes=45)
    assert e.measured_minutes is None and e.backlog_minutes is None
    assert e.answer_by == datetime(2026, 11, 24, 9, 45, tzinfo=UTC)
    assert "target of 45 min" in e.basis


def test_always_staffed_when_no_hours_are_given() -> None:
    always = hours.parse("UTC", {})
    e = hours.expect(always, FRIDAY_NIGHT, waiting=0, samples=[], target_minutes=10)
    assert e.open_now and e.answer_by == datetime(2026, 11, 27, 22, 15, tzinfo=UTC)
    assert not hours.should_acknowledge(True, 0, e)


@pytest.mark.parametrize(
    ("tz", "spec", "message"),
    [
        ("Mars/Olympus", {}, "'Mars/Olympus' is not a time zone"),
        ("UTC", {"funday": [["09:00", "17:00"]]}, "'funday' is not one of"),
        ("UTC", {"mon": [["17:00", "09:00"]]}, "mon: 17:00-09:00 ends before it starts"),
        ("UTC", {"mon": [["9am", "17:00"]]}, "mon: '9am' is not a time"),
    ],
)
def test_bad_hours_are_refused_with_what_and_where(tz: str, spec: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(BadInput, match=message):
        hours.parse(tz, spec)
