"""ONE's front door: the `one` command line (and, with later work, the HTTP server)."""

from one._demo import run_demo

__all__ = ["run_demo"]
