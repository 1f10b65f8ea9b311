"""Celery workers for the distributed layout: with `ONE_BROKER_URL` (Redis), runs that
the server or the scheduler accept are sent to workers, which drive them.

Start one with `celery -A one.worker worker` (or `one worker`). A worker drives a run
under the run's hold (`Store.hold`), so a run delivered twice, or recovered while a
worker drives it, is driven once. Tasks are acknowledged after they finish, so a run
whose worker died is delivered again; a worker also recovers unfinished runs at start.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_ready

from one._app import One
from one._settings import Settings

DRIVE = "one.drive"


@functools.cache
def app(broker_url: str | None = None) -> Celery:
    """The Celery app on `broker_url`, by default the settings' (`ONE_BROKER_URL`)."""
    broker_url = broker_url or Settings().broker_url
    if not broker_url:
        from agents.errors import ConfigurationError

        raise ConfigurationError(
            "no broker: set ONE_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to use workers"
        )
    celery = Celery("one", broker=broker_url)
    celery.conf.update(
        task_acks_late=True,  # a run whose worker died is delivered again
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="one",
        broker_connection_retry_on_startup=True,
    )
    celery.task(name=DRIVE)(_drive)
    return celery


_factory: Any = None  # tests and embedders set a function making the worker's One


def _make() -> One:
    return _factory() if _factory is not None else One()


@functools.cache
def _one() -> One:
    return _make()


def _drive(run_id: str) -> str:
    return _one().runs.drive(run_id).status


def enqueue(run_id: str, *, broker_url: str | None = None) -> None:
    """Send an accepted run to the workers (on `broker_url`, by default the settings')."""
    app(broker_url).send_task(DRIVE, args=[run_id])


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _forked(**_: Any) -> None:
    # A pool process forked from the worker must not share its parent's database
    # connections: it opens its own One at its first task.
    _one.cache_clear()


@worker_ready.connect  # type: ignore[untyped-decorator]
def _recover(**_: Any) -> None:
    if os.environ.get("ONE_WORKER_RECOVER", "1") == "0":
        return
    # Its own One, closed after: the worker's parent process drives no tasks, and pool
    # processes forked later (after `max_tasks_per_child`) must not inherit its connections.
    with _make() as one:
        one.runs.recover()
