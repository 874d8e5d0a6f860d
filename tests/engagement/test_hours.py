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


def answered(
    n: int, took: float, before: datetime, gap: float = 30
) -> list[tuple[datetime, datetime]]:
    """``n`` conversations written ``gap`` minutes apart from 10:00 Paris on past weekdays,
    each answered ``took`` minutes later (with ``gap`` > ``took``, nobody found a queue)."""
    out: list[tuple[datetime, datetime]] = []
    day = before - timedelta(days=1)
    while len(out) < n:
        if day.weekday() < 5:
            at = day.replace(hour=9, minute=0)  # 10:00 Paris in November
            while len(out) < n and at.hour < 16:
                out.append((at, at + timedelta(minutes=took)))
                at += timedelta(minutes=gap)
        day -= timedelta(days=1)
    return out


def test_working_minutes_skip_the_night_and_the_weekend() -> None:
    friday_16 = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    monday_10 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert hours.working_minutes(PARIS, friday_16, monday_10) == 120
    assert hours.add_working(PARIS, friday_16, 90) == datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
    assert not hours.is_open(PARIS, FRIDAY_NIGHT)


def test_outside_hours_the_promise_is_the_reopening_plus_the_queue() -> None:
    samples = answered(20, 10, FRIDAY_NIGHT)  # one agent, 10 minutes an answer
    empty = hours.expect(PARIS, FRIDAY_NIGHT, waiting=0, ahead=0, samples=samples,
                         target_minutes=60)  # fmt: skip
    assert empty.open_now is False and empty.handling_minutes == pytest.approx(10)
    monday_9 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 Paris
    assert empty.answer_by == monday_9 + timedelta(minutes=10)
    queued = hours.expect(PARIS, FRIDAY_NIGHT, waiting=3, ahead=3, samples=samples,
                          target_minutes=60)  # fmt: skip
    assert queued.answer_by == monday_9 + timedelta(minutes=40)  # three before, then ours
    assert hours.should_acknowledge(True, 0, queued)
    assert hours.ack_text(PARIS, queued, FRIDAY_NIGHT) == (
        "Thanks for reaching out! Our team is away right now. "
        "A person will answer you by 09:40 CET on Monday 30 November."
    )


def test_a_longer_queue_gives_a_later_promise() -> None:
    samples = answered(40, 10, TUESDAY_10)

    def due(ahead: int) -> datetime:
        e = hours.expect(PARIS, TUESDAY_10, waiting=ahead, ahead=ahead, samples=samples,
                         target_minutes=60)  # fmt: skip
        assert e.answer_by is not None
        return e.answer_by

    assert due(0) == TUESDAY_10 + timedelta(minutes=10)
    assert due(0) < due(1) < due(5) < due(50)
    assert due(5) == TUESDAY_10 + timedelta(minutes=60)
    # 50 ahead at 10 minutes each runs past 17:00 Paris: the rest is Wednesday morning.
    assert due(50) == datetime(2026, 11, 25, 8, 0, tzinfo=UTC) + timedelta(minutes=510 - 420)


def test_fewer_ahead_is_sooner_whoever_is_waiting_behind() -> None:
    # An urgent customer jumps the queue: only those before them in the inbox count.
    samples = answered(40, 10, TUESDAY_10)
    urgent = hours.expect(PARIS, TUESDAY_10, waiting=20, ahead=1, samples=samples,
                          target_minutes=60)  # fmt: skip
    calm = hours.expect(PARIS, TUESDAY_10, waiting=20, ahead=19, samples=samples,
                        target_minutes=60)  # fmt: skip
    assert urgent.answer_by and calm.answer_by and urgent.answer_by < calm.answer_by
    assert urgent.basis.startswith("1 of the 20 waiting come first")


def test_the_pace_is_measured_while_there_was_work_not_over_idle_hours() -> None:
    # Answers 10 minutes after each post, posts an hour apart: the team idled 50 minutes
    # in 60, but when it had work it answered 6 an hour (dividing by the staffed hours
    # said 1 an hour, and a queue of 6 would have been promised 6 hours).
    samples = answered(30, 10, TUESDAY_10, gap=60)
    e = hours.expect(PARIS, TUESDAY_10, waiting=6, ahead=6, samples=samples,
                     target_minutes=60)  # fmt: skip
    assert e.rate_per_minute == pytest.approx(1 / 10)
    assert e.wait_minutes == pytest.approx(70)


def test_two_agents_take_the_first_two_at_once() -> None:
    # Two answers in every 10-minute spell: pace 1 per 5 minutes, handling 10 minutes.
    one = answered(40, 10, TUESDAY_10)
    two = sorted(one + [(a, b) for a, b in one])
    answers = sorted(b for _, b in two)
    alone = [(a, b) for a, b in one]  # the handling time comes from those who found no queue
    e0 = hours.expect(PARIS, TUESDAY_10, waiting=1, ahead=1, samples=alone, answers=answers,
                      target_minutes=60)  # fmt: skip
    assert e0.rate_per_minute == pytest.approx(1 / 5)
    assert e0.wait_minutes == pytest.approx(10)  # the second agent is free
    e3 = hours.expect(PARIS, TUESDAY_10, waiting=3, ahead=3, samples=alone, answers=answers,
                      target_minutes=60)  # fmt: skip
    assert e3.wait_minutes == pytest.approx(20)  # two more before ours, at 5 minutes each


def test_without_measurements_the_target_is_the_promise() -> None:
    e = hours.expect(PARIS, TUESDAY_10, waiting=3, samples=[], target_minutes=45)
    assert e.handling_minutes is None and e.rate_per_minute is None
    assert e.answer_by == datetime(2026, 11, 24, 9, 45, tzinfo=UTC)
    assert "target of 45 min" in e.basis


def test_a_team_never_idle_is_promised_at_its_pace() -> None:
    # Every customer found another waiting (posts 5 minutes apart, answered 10 minutes
    # later, by two agents): no handling time can be told apart from the wait, but the
    # pace can: an answer every 5 minutes, so 3 ahead and ours take 20 minutes.
    samples = answered(40, 10, TUESDAY_10, gap=5)
    e = hours.expect(PARIS, TUESDAY_10, waiting=3, ahead=3, samples=samples,
                     target_minutes=60)  # fmt: skip
    assert e.handling_minutes is None
    # (the first spell, before the first answer, counts as busy: a touch slower)
    assert e.rate_per_minute == pytest.approx(1 / 5, rel=0.05)
    assert e.wait_minutes == pytest.approx(20, rel=0.05)
    assert "time per answer not measured yet" in e.basis


def test_the_promise_is_rounded_up_to_the_minute() -> None:
    samples = answered(20, 7.5, TUESDAY_10)
    e = hours.expect(PARIS, TUESDAY_10, waiting=0, ahead=0, samples=samples, target_minutes=60)
    assert e.answer_by == TUESDAY_10 + timedelta(minutes=8)


def test_always_staffed_when_no_hours_are_given() -> None:
    always = hours.parse("UTC", {})
    e = hours.expect(always, FRIDAY_NIGHT, waiting=0, samples=[], target_minutes=10)
    assert e.open_now and e.answer_by == datetime(2026, 11, 27, 22, 10, tzinfo=UTC)
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


def test_a_newcomer_due_sooner_is_put_before_only_while_it_would_be_due_sooner() -> None:
    due = TUESDAY_10 + timedelta(minutes=60)
    # A 15-minute target is due before 11:00 for arrivals until 10:45 Paris.
    last = hours.last_arrival_before(PARIS, TUESDAY_10, due, due, 15)
    assert abs(last - (due - timedelta(minutes=15))) <= timedelta(seconds=30)
    # Taken at 10:20 Paris: only those arriving until then could go first.
    taken = TUESDAY_10 + timedelta(minutes=20)
    assert hours.last_arrival_before(PARIS, TUESDAY_10, taken, due, 15) == taken
    # A target as long as the wait left never overtakes.
    assert hours.last_arrival_before(PARIS, TUESDAY_10, due, due, 60) == TUESDAY_10
    # At night every urgent newcomer until the opening is due sooner than a calm post
    # due an hour after it: all night's arrivals count, not just the working minutes.
    monday_9 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    night = hours.last_arrival_before(PARIS, FRIDAY_NIGHT, monday_9 + timedelta(minutes=60),
                                      monday_9 + timedelta(minutes=60), 15)  # fmt: skip
    assert abs(night - (monday_9 + timedelta(minutes=45))) <= timedelta(seconds=30)


def test_those_expected_to_overtake_make_the_promise_later_until_it_settles() -> None:
    samples = answered(40, 10, TUESDAY_10)  # one agent, 10 minutes an answer
    alone = hours.expect(PARIS, TUESDAY_10, waiting=3, ahead=3, samples=samples,
                         target_minutes=60)  # fmt: skip
    asked: list[datetime] = []

    def two_an_hour_until(taken: datetime) -> float:
        asked.append(taken)
        return 2 * (taken - TUESDAY_10).total_seconds() / 3600

    crowded = hours.expect(PARIS, TUESDAY_10, waiting=3, ahead=3, samples=samples,
                           target_minutes=60, overtaken=two_an_hour_until)  # fmt: skip
    assert alone.wait_minutes == pytest.approx(40)
    # Taken after 30 min alone, one more arrives before it meanwhile, then more while
    # that one is answered: the fixed point of w = 10 * (3 + 2 (w - 10) / 60) + 10, 55.
    assert crowded.wait_minutes == pytest.approx(55, abs=1)
    assert asked[0] == TUESDAY_10 + timedelta(minutes=30)
    assert "~1 more due sooner should arrive" in crowded.basis
    assert "due sooner" not in alone.basis
