"""Schedules: an agent or a graph for a creator, at the slots of a cron expression in an
IANA timezone; and the scheduler that runs them.

A schedule is a `schedule` entity (its creator `owns` it), so schedules are data like the
rest. A slot is claimed by accepting its run, whose id is made from (schedule, slot):
the event log's idempotency key is unique in the database, so however many schedulers
tick at once, one of them accepts the slot's run and only that one drives (or enqueues)
it. The run's `run_accepted` names the schedule as its target and carries the slot, so
every scheduled run is in the timeline with its schedule.

**Missed slots** (every scheduler was down): when a scheduler comes back, a schedule
whose slots passed unrun runs once, for the latest of them, and then keeps to its
schedule; the run says how many slots it stands for (`missed`). No burst of catch-up
runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, croniter

from graphs import agent as agent_graph
from one._app import One, stable_id
from ontology import Entity, Store, every
from ontology.errors import InvalidInputError, NotFoundError

Target = Literal["agent", "graph"]


@dataclass(frozen=True)
class Fired:
    """A slot a tick claimed: its schedule, slot, run, and how many slots it stands for."""

    schedule_id: str
    slot: datetime
    run_id: str
    missed: int


class Schedules:
    """The schedules in a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(
        self,
        creator_id: str,
        target: Target,
        name: str,
        cron: str,
        *,
        timezone: str = "UTC",
        end: datetime | None = None,
        enabled: bool = True,
        now: datetime | None = None,
    ) -> Entity:
        """A new schedule; its first slot is the first after `now`.

        Raises:
            InvalidInputError: a bad cron expression, timezone, target or end.
            NotFoundError: no such creator.
        """
        if target not in ("agent", "graph"):
            raise InvalidInputError("target", "must be 'agent' or 'graph'")
        zone = _zone(timezone)
        _check_cron(cron)
        now = now or datetime.now(UTC)
        if end is not None and end.tzinfo is None:
            end = end.replace(tzinfo=zone)
        if end is not None and end <= now:
            raise InvalidInputError("end", f"{end.isoformat()} has passed; give a later end")
        creator = self.store.entities.find(creator_id)
        if creator is None:
            raise NotFoundError("creator", creator_id, "add it first (`one init --creator NAME`)")
        if creator.type != "creator":
            raise InvalidInputError("creator", f"{creator_id} is a {creator.type}, not a creator")
        properties = {
            "creatorId": creator_id,
            "target": target,
            "name": name,
            "cron": cron,
            "timezone": timezone,
            "enabled": enabled,
            "end": end.isoformat() if end else None,
            "nextRun": _ms(next_slot(cron, zone, now)),
        }
        with self.store.transaction() as tx:
            made = tx.entities.create(
                "schedule", f"{name} {cron} ({timezone})", _present(properties)
            )
            tx.connections.connect(creator_id, made.id, "owns")
            tx.events.append("schedule_changed", creator_id, made.id, {"action": "created"})
        return made

    def get(self, schedule_id: str) -> Entity:
        found = self.store.entities.find(schedule_id)
        if found is None or found.type != "schedule":
            raise NotFoundError("schedule", schedule_id)
        return found

    def list(self, creator_id: str | None = None) -> list[Entity]:
        listing = every(self.store.entities.query, "schedule", owner=creator_id, limit=1000)
        return list(listing)

    def set_enabled(
        self, schedule_id: str, enabled: bool, *, now: datetime | None = None
    ) -> Entity:
        """Pause or resume; a resumed schedule starts again at its next slot (no catch-up)."""
        schedule = self.get(schedule_id)
        patch: dict[str, Any] = {"enabled": enabled}
        if enabled:
            p = schedule.properties
            zone = _zone(str(p.get("timezone", "UTC")))
            patch["nextRun"] = _ms(next_slot(str(p["cron"]), zone, now or datetime.now(UTC)))
        with self.store.transaction() as tx:
            patched = tx.entities.patch(schedule_id, patch)
            creator = str(schedule.properties["creatorId"])
            tx.events.append("schedule_changed", creator, schedule_id, {"action": "updated"})
        return patched

    def remove(self, schedule_id: str) -> Entity:
        """Delete a schedule (kept with its history; its runs stay in the timeline)."""
        schedule = self.get(schedule_id)
        with self.store.transaction() as tx:
            creator = str(schedule.properties["creatorId"])
            # Before the delete: an event may not name a deleted entity.
            tx.events.append("schedule_changed", creator, schedule_id, {"action": "removed"})
            return tx.entities.delete(schedule_id)


class Scheduler:
    """Runs due schedules: in this process, or (with `enqueue`) by handing each claimed
    run to workers.

    Args:
        one: ONE, whose store holds the schedules and whose runs run them.
        enqueue: where a claimed run goes to be driven (a Celery task's `delay`); None
            drives it here, before the tick returns.
    """

    def __init__(self, one: One, *, enqueue: Callable[[str], Any] | None = None) -> None:
        self.one, self.enqueue = one, enqueue
        self.schedules = Schedules(one.store)

    def tick(self, now: datetime | None = None) -> list[Fired]:
        """Claim and run (or enqueue) every slot due at `now`; the slots claimed."""
        now = now or self.one.now()
        now_ms = _ms(now)
        fired = []
        for schedule in self._due(now_ms):
            claimed = self._fire(schedule, now)
            if claimed is not None:
                fired.append(claimed)
        return fired

    def run_forever(
        self, *, interval: float | None = None, on_tick: Callable[[list[Fired]], Any] = print
    ) -> None:
        """Tick every `interval` seconds (the settings' `scheduler_interval`) until stopped."""
        interval = interval or self.one.settings.scheduler_interval
        self.one.runs.recover()
        while True:
            started = time.monotonic()
            on_tick(self.tick())
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    def _due(self, now_ms: int) -> list[Entity]:
        """The enabled schedules whose next slot has come (the store reads no others)."""
        query = self.one.store.entities.query
        due = every(query, "schedule", "active", at_most={"nextRun": now_ms}, limit=1000)
        return [s for s in due if s.properties.get("enabled", True)]

    def _fire(self, schedule: Entity, now: datetime) -> Fired | None:
        """Claim the schedule's latest slot that has come (by accepting its run), then
        move its bookmark past `now`. Claiming first: a scheduler that dies in between
        leaves the bookmark behind, and the next tick finds the slot claimed (and the
        run, accepted, is finished by `recover`) instead of a slot skipped for good."""
        p = schedule.properties
        zone = _zone(str(p.get("timezone", "UTC")))
        cron = str(p["cron"])
        end = datetime.fromisoformat(p["end"]) if p.get("end") else None
        first = datetime.fromtimestamp(int(p["nextRun"]) / 1000, UTC)
        slot = latest_slot(cron, zone, now if end is None else min(now, end))
        following = next_slot(cron, zone, now)
        patch: dict[str, Any] = {"nextRun": _ms(following)}
        if end is not None and following > end:
            patch["enabled"] = False
        if slot < first:  # its end came before its next slot: nothing left to run
            self.one.store.entities.patch(schedule.id, patch)
            return None
        missed = _count_slots(cron, zone, first, slot)
        creator = str(p["creatorId"])
        graph, input = _run_of(str(p["target"]), str(p["name"]), creator)
        trigger = {"scheduleId": schedule.id, "slot": slot.isoformat(), "missed": missed - 1}
        run_id = stable_id("schedule", schedule.id, slot.astimezone(UTC).isoformat())
        run_id, mine = self.one.runs.submit(graph, input, run_id=run_id, trigger=trigger)
        self.one.store.entities.patch(schedule.id, patch)
        if not mine:  # another scheduler claimed this slot
            return None
        if self.enqueue is not None:
            self.enqueue(run_id)
        else:
            self.one.runs.drive(run_id)
        return Fired(schedule.id, slot, run_id, missed)


def _run_of(target: str, name: str, creator_id: str) -> tuple[str, dict[str, Any]]:
    if target == "agent":
        return agent_graph.NAME, {"creator_id": creator_id, "agent": name, "task": None}
    return name, {"creator_id": creator_id}


def next_slot(cron: str, zone: ZoneInfo, after: datetime) -> datetime:
    """The first slot of `cron` in `zone` strictly after `after` (in UTC)."""
    it = croniter(cron, after.astimezone(zone))
    return it.get_next(datetime).astimezone(UTC)


def latest_slot(cron: str, zone: ZoneInfo, at: datetime) -> datetime:
    """The latest slot of `cron` in `zone` at or before `at` (in UTC)."""
    at = at.astimezone(zone)
    if croniter.match(cron, at) and at.second == 0 and at.microsecond == 0:
        return at.astimezone(UTC)
    return croniter(cron, at).get_prev(datetime).astimezone(UTC)


def _count_slots(
    cron: str, zone: ZoneInfo, first: datetime, last: datetime, cap: int = 1000
) -> int:
    """How many slots from `first` to `last`, both included (at most `cap`)."""
    it = croniter(cron, first.astimezone(zone) - timedelta(microseconds=1))
    count = 0
    while count < cap and it.get_next(datetime).astimezone(UTC) <= last:
        count += 1
    return max(count, 1)


def _check_cron(cron: str) -> None:
    try:
        croniter(cron)
    except (CroniterBadCronError, ValueError, KeyError) as error:
        raise InvalidInputError(
            "cron", f"{cron!r} is not a cron expression ({error}); e.g. '0 9 * * *' is 9:00 daily"
        ) from None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            "timezone", f"{name!r} is not an IANA timezone; e.g. 'Europe/Paris' or 'UTC'"
        ) from None


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _present(properties: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in properties.items() if v is not None}
