"""ONE's front door: the `one` command line, the HTTP server, settings, and schedules."""

from one._app import One
from one._demo import run_demo
from one._schedules import Scheduler, Schedules
from one._settings import Settings

__all__ = ["One", "Scheduler", "Schedules", "Settings", "run_demo"]
