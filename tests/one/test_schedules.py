"""Schedules and the scheduler, with the time given: validation, due slots, timezones and
DST, missed slots, ends, pauses, two schedulers racing, and the creator's timeline."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from one._app import One
from one._schedules import Fired, Scheduler, Schedules
from ontology import Event, every
from ontology.errors import InvalidInputError, NotFoundError
from tests.agents.test_specs import SAMPLES
from tests.one.conftest import brain_model, make_one

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday, in winter
HOURLY = "0 * * * *"
AGENT = "strategy_agent"
ROOT = Path(__file__).parents[2]


@pytest.fixture
def one(tmp_path: Path) -> Iterator[One]:
    with make_one(tmp_path / "data", brain_model(StrategyPlan=SAMPLES[AGENT])) as made:
        yield made


@pytest.fixture
def creator(one: One) -> str:
    return one.add_creator("Maya Lin").id


def hourly(one: One, creator: str, **options: object) -> str:
    """An hourly schedule of the strategy agent, added at T0 (its first slot: 01:00)."""
    return Schedules(one.store).add(creator, "agent", AGENT, HOURLY, now=T0, **options).id  # type: ignore[arg-type]


def at(hours: float, seconds: int = 5) -> datetime:
    return T0 + timedelta(hours=hours, seconds=seconds)


def accepted(one: One, schedule_id: str) -> list[Event]:
    """The `run_accepted` events of the schedule's runs, oldest first."""
    runs = every(one.store.events.timeline, type="run_accepted", target_id=schedule_id, limit=500)
    return list(runs)


def slots(one: One, schedule_id: str) -> list[str]:
    return [str(e.metadata["trigger"]["slot"]) for e in accepted(one, schedule_id)]


def utc(hours: int) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


# -- adding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "remedy"),
    [
        ({"cron": "every day at nine"}, "cron", "'0 9 * * *'"),
        ({"cron": "61 * * * *"}, "cron", "'0 9 * * *'"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "Europe/Paris"),
        ({"end": T0 - timedelta(days=1)}, "end", "give a later end"),
        ({"end": T0}, "end", "give a later end"),
        ({"target": "robot"}, "target", "'agent' or 'graph'"),
    ],
)
def test_add_refuses_what_cannot_run_and_says_what_to_give(
    one: One, creator: str, change: dict[str, object], field: str, remedy: str
) -> None:
    args: dict[str, object] = {"target": "agent", "cron": HOURLY, **change}
    with pytest.raises(InvalidInputError) as raised:
        Schedules(one.store).add(
            creator,
            args.pop("target"),  # type: ignore[arg-type]
            AGENT,
            str(args.pop("cron")),
            now=T0,
            **args,  # type: ignore[arg-type]
        )
    assert raised.value.field == field
    assert remedy in str(raised.value)
    assert Schedules(one.store).list() == []


def test_add_refuses_an_unknown_creator_or_an_entity_that_is_not_one(
    one: One, creator: str
) -> None:
    schedules = Schedules(one.store)
    with pytest.raises(NotFoundError, match="one init --creator"):
        schedules.add("00000000-0000-0000-0000-000000000000", "agent", AGENT, HOURLY, now=T0)
    schedule = hourly(one, creator)
    with pytest.raises(InvalidInputError, match="not a creator"):
        schedules.add(schedule, "agent", AGENT, HOURLY, now=T0)
    assert [s.id for s in schedules.list(creator)] == [schedule]


def test_a_schedule_is_owned_by_its_creator_and_its_first_slot_follows_now(
    one: One, creator: str
) -> None:
    schedule = Schedules(one.store).get(hourly(one, creator))
    assert schedule.properties["nextRun"] == int((T0 + timedelta(hours=1)).timestamp() * 1000)
    assert schedule.properties["enabled"] is True
    assert [s.id for s in Schedules(one.store).list(creator)] == [schedule.id]
    with pytest.raises(NotFoundError):
        Schedules(one.store).get(creator)  # a creator is not a schedule


# -- firing -----------------------------------------------------------------------------


def test_a_due_slot_runs_once_and_ticking_again_does_nothing(one: One, creator: str) -> None:
    schedule = hourly(one, creator)
    scheduler = Scheduler(one)
    assert scheduler.tick(at(0.5)) == []  # not yet due

    [fired] = scheduler.tick(at(1))
    assert (fired.schedule_id, fired.slot, fired.missed) == (schedule, T0 + timedelta(hours=1), 1)
    run = one.runs.get(fired.run_id)
    assert run.status == "completed" and run.graph == "agent_run"
    assert run.values["outputs"].keys() == {AGENT}
    [event] = accepted(one, schedule)
    assert (event.actor_id, event.target_id, event.run_id) == (creator, schedule, fired.run_id)
    assert event.metadata["trigger"] == {"scheduleId": schedule, "slot": utc(1), "missed": 0}
    assert event.metadata["input"] == {"creator_id": creator, "agent": AGENT, "task": None}

    assert scheduler.tick(at(1)) == []
    assert scheduler.tick(at(1, seconds=50)) == []
    assert len(accepted(one, schedule)) == 1
    nodes = [e for e in one.runs.get(fired.run_id).events if e.type == "node_started"]
    assert len(nodes) == 1
    next_run = Schedules(one.store).get(schedule).properties["nextRun"]
    assert next_run == int((T0 + timedelta(hours=2)).timestamp() * 1000)


def test_enqueue_hands_the_claimed_run_over_without_running_it(one: One, creator: str) -> None:
    schedule = hourly(one, creator)
    queued: list[str] = []
    [fired] = Scheduler(one, enqueue=queued.append).tick(at(1))
    assert queued == [fired.run_id]
    assert one.runs.get(fired.run_id).status == "accepted"
    assert Scheduler(one, enqueue=queued.append).tick(at(1)) == []
    assert one.runs.drive(fired.run_id).status == "completed"
    assert len(accepted(one, schedule)) == 1


@pytest.mark.parametrize(
    ("day", "fires_at"),
    [
        (datetime(2026, 1, 12, tzinfo=UTC), 14),  # EST, UTC-5
        (datetime(2026, 7, 13, tzinfo=UTC), 13),  # EDT, UTC-4
    ],
)
def test_nine_in_new_york_is_fourteen_utc_in_winter_and_thirteen_in_summer(
    one: One, creator: str, day: datetime, fires_at: int
) -> None:
    schedules = Schedules(one.store)
    schedule = schedules.add(
        creator, "agent", AGENT, "0 9 * * *", timezone="America/New_York", now=day
    ).id
    due = day.replace(hour=fires_at)
    assert schedules.get(schedule).properties["nextRun"] == int(due.timestamp() * 1000)
    scheduler = Scheduler(one, enqueue=lambda run_id: None)
    assert scheduler.tick(due - timedelta(seconds=1)) == []
    [fired] = scheduler.tick(due)
    assert fired.slot == due
    assert slots(one, schedule) == [due.isoformat()]


def test_a_daily_schedule_keeps_to_nine_in_new_york_across_the_dst_change(
    one: One, creator: str
) -> None:
    start = datetime(2026, 3, 6, tzinfo=UTC)  # DST starts on Sunday 8 March 2026
    schedule = Schedules(one.store).add(
        creator, "agent", AGENT, "0 9 * * *", timezone="America/New_York", now=start
    )
    scheduler = Scheduler(one, enqueue=lambda run_id: None)
    for hour in range(24 * 4):
        scheduler.tick(start + timedelta(hours=hour, minutes=1))
    assert slots(one, schedule.id) == [
        "2026-03-06T14:00:00+00:00",
        "2026-03-07T14:00:00+00:00",
        "2026-03-08T13:00:00+00:00",
        "2026-03-09T13:00:00+00:00",
    ]


def test_missed_slots_run_once_for_the_latest_then_the_schedule_goes_on(
    one: One, creator: str
) -> None:
    schedule = hourly(one, creator)
    scheduler = Scheduler(one)
    # Down from T0 to 05:00: the 01:00 to 05:00 slots passed without a tick.
    [fired] = scheduler.tick(at(5))
    assert (fired.slot, fired.missed) == (T0 + timedelta(hours=5), 5)
    assert one.runs.get(fired.run_id).status == "completed"
    [event] = accepted(one, schedule)
    assert event.metadata["trigger"] == {"scheduleId": schedule, "slot": utc(5), "missed": 4}

    assert scheduler.tick(at(5, seconds=30)) == []
    [following] = scheduler.tick(at(6))
    assert (following.slot, following.missed) == (T0 + timedelta(hours=6), 1)
    assert accepted(one, schedule)[-1].metadata["trigger"]["missed"] == 0
    assert slots(one, schedule) == [utc(5), utc(6)]


def test_no_run_after_the_end_and_the_schedule_is_disabled(one: One, creator: str) -> None:
    schedule = hourly(one, creator, end=T0 + timedelta(hours=2, minutes=30))
    scheduler = Scheduler(one, enqueue=lambda run_id: None)
    for hour in range(1, 6):
        scheduler.tick(at(hour))
    assert slots(one, schedule) == [utc(1), utc(2)]
    assert Schedules(one.store).get(schedule).properties["enabled"] is False


def test_slots_missed_before_the_end_still_get_their_one_run(one: One, creator: str) -> None:
    schedule = hourly(one, creator, end=T0 + timedelta(hours=3, minutes=30))
    scheduler = Scheduler(one, enqueue=lambda run_id: None)
    [fired] = scheduler.tick(at(6))  # down from T0 to past the end
    assert (fired.slot, fired.missed) == (T0 + timedelta(hours=3), 3)
    assert scheduler.tick(at(7)) == []
    assert slots(one, schedule) == [utc(3)]
    assert Schedules(one.store).get(schedule).properties["enabled"] is False


def test_a_disabled_schedule_does_not_fire_and_resumes_at_its_next_slot(
    one: One, creator: str
) -> None:
    schedule = hourly(one, creator)
    schedules, scheduler = Schedules(one.store), Scheduler(one, enqueue=lambda run_id: None)
    schedules.set_enabled(schedule, False, now=T0)
    for hour in (1, 2, 3):
        assert scheduler.tick(at(hour)) == []
    schedules.set_enabled(schedule, True, now=at(3, seconds=600))  # 03:10: no catch-up
    assert scheduler.tick(at(3, seconds=900)) == []
    [fired] = scheduler.tick(at(4))
    assert (fired.slot, fired.missed) == (T0 + timedelta(hours=4), 1)
    assert slots(one, schedule) == [utc(4)]
    assert accepted(one, schedule)[0].metadata["trigger"]["missed"] == 0


def test_a_removed_schedule_does_not_fire(one: One, creator: str) -> None:
    schedule = hourly(one, creator)
    Schedules(one.store).remove(schedule)
    assert Scheduler(one).tick(at(1)) == []
    assert Schedules(one.store).list(creator) == []


def test_every_scheduled_run_is_in_the_creators_timeline_with_its_schedule(
    one: One, creator: str
) -> None:
    first, second = hourly(one, creator), hourly(one, creator)
    scheduler = Scheduler(one)
    fired = scheduler.tick(at(1)) + scheduler.tick(at(2))
    assert len(fired) == 4
    timeline = one.timeline(creator, limit=500)
    runs = {e.run_id: e for e in timeline if e.type == "run_accepted"}
    assert runs.keys() == {f.run_id for f in fired}
    for f in fired:
        event = runs[f.run_id]
        assert event.target_id == f.schedule_id in (first, second)
        assert event.metadata["trigger"]["scheduleId"] == f.schedule_id
    ended = [e.run_id for e in timeline if e.type == "run_completed"]
    assert sorted(ended) == sorted(runs)  # type: ignore[type-var]
    changes = [e.target_id for e in timeline if e.type == "schedule_changed"]
    assert changes == [first, second]


# -- two schedulers at once ---------------------------------------------------------------

SCHEDULES, TICKS = 8, 4

_TICKER = """
import sys, time
from datetime import datetime
from pathlib import Path
from one._schedules import Scheduler
from tests.agents.test_specs import SAMPLES
from tests.one.conftest import brain_model, make_one

data, me, ticks = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
with make_one(data, brain_model(StrategyPlan=SAMPLES["strategy_agent"])) as one:
    scheduler = Scheduler(one)
    one.runs.compiled("agent_run")
    (data.parent / f"ready-{me}").touch()
    while not (data.parent / "go").exists():
        time.sleep(0.005)
    for tick in ticks:
        for fired in scheduler.tick(datetime.fromisoformat(tick)):
            print(fired.run_id, flush=True)
"""


def test_two_schedulers_claim_and_drive_each_slot_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with make_one(data) as one:
        creator = one.add_creator("Maya Lin").id
        ids = [hourly(one, creator) for _ in range(SCHEDULES)]
    ticks = [at(hour).isoformat() for hour in range(1, TICKS + 1)]
    tickers = [
        subprocess.Popen(
            [sys.executable, "-c", _TICKER, str(data), str(n), *ticks],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    try:
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"ready-{n}").exists() for n in range(2)):
            if any(t.poll() is not None for t in tickers) or time.monotonic() > deadline:
                for t in tickers:  # the other waits for "go": stop it before reading it
                    t.kill()
                pytest.fail(f"a scheduler did not start: {[t.communicate() for t in tickers]}")
            time.sleep(0.01)
        (tmp_path / "go").touch()
        outputs = [t.communicate(timeout=300) for t in tickers]
    finally:
        for t in tickers:  # none left behind, whatever happened
            t.kill()
            t.wait()
    assert [t.returncode for t in tickers] == [0, 0], outputs
    claimed = [line for out, _ in outputs for line in out.split()]

    with make_one(data) as one:
        runs = {e.run_id: e for s in ids for e in accepted(one, s)}
        assert len(runs) == SCHEDULES * TICKS
        assert Counter(claimed) == Counter(runs.keys())  # each claimed by one scheduler only
        counts: Counter[tuple[str, str]] = Counter()
        for run_id in runs:
            assert run_id is not None
            for event in one.store.events.read_run(run_id):
                counts[event.type, run_id] += 1
        for run_id in runs:
            for kind in ("run_accepted", "node_started", "node_completed", "run_completed"):
                assert counts[kind, str(run_id)] == 1, (kind, run_id)
        by_schedule = Counter(str(e.metadata["trigger"]["slot"]) for e in runs.values())
        assert by_schedule == Counter({utc(h): SCHEDULES for h in range(1, TICKS + 1)})


def test_fired_is_a_value() -> None:
    fired = Fired("s", T0, "r", 1)
    assert fired == Fired("s", T0, "r", 1)
