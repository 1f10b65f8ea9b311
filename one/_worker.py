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
from celery.signals import worker_ready

from one._app import One
from one._settings import Settings

DRIVE = "one.drive"


@functools.cache
def app() -> Celery:
    """The Celery app on the settings' broker (`ONE_BROKER_URL`)."""
    settings = Settings()
    if not settings.broker_url:
        from agents.errors import ConfigurationError

        raise ConfigurationError(
            "no broker: set ONE_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to use workers"
        )
    celery = Celery("one", broker=settings.broker_url)
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


@functools.cache
def _one() -> One:
    return _factory() if _factory is not None else One()


def _drive(run_id: str) -> str:
    return _one().runs.drive(run_id).status


def enqueue(run_id: str) -> None:
    """Send an accepted run to the workers."""
    app().send_task(DRIVE, args=[run_id])


@worker_ready.connect  # type: ignore[untyped-decorator]
def _recover(**_: Any) -> None:
    if os.environ.get("ONE_WORKER_RECOVER", "1") != "0":
        _one().runs.recover()
