"""What every benchmark module shares: timing, percentiles, and printing figures."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table

K = TypeVar("K")

out = Console(highlight=False)
progress = Console(stderr=True, highlight=False)


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: float
    unit: str
    goal: str | None = None
    met: bool | None = None


def timed(call: Callable[[K], object], keys: Iterable[K]) -> list[float]:
    """The seconds each `call(key)` took, in order."""
    seconds = []
    for key in keys:
        started = time.perf_counter()
        call(key)
        seconds.append(time.perf_counter() - started)
    return seconds


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct`-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def report(title: str, figures: list[Figure]) -> dict[str, Any]:
    """Print `figures` as a table; return them as JSON-ready data."""
    table = Table(title=title, title_justify="left", title_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("goal")
    for f in figures:
        verdict = "" if f.met is None else (" [green]met[/]" if f.met else " [red]missed[/]")
        table.add_row(f.label, f"{f.value:,.2f} {f.unit}", f"{f.goal or ''}{verdict}")
    out.print(table)
    return {"title": title, "figures": {f.key: _json(f) for f in figures}}


def _json(figure: Figure) -> dict[str, Any]:
    return {k: v for k, v in asdict(figure).items() if k != "key"}


def latency_figures(
    key: str, label: str, seconds: Sequence[float], high: int, goal_ms: float | None = None
) -> list[Figure]:
    """p50 and p`high` of `seconds` in ms; a goal, when given, applies to p`high`."""
    p_high = percentile(seconds, high) * 1000
    return [
        Figure(f"{key}_p50_ms", f"{label} p50", percentile(seconds, 50) * 1000, "ms"),
        Figure(
            f"{key}_p{high}_ms",
            f"{label} p{high}",
            p_high,
            "ms",
            goal=None if goal_ms is None else f"p{high} <= {goal_ms:g} ms",
            met=None if goal_ms is None else p_high <= goal_ms,
        ),
    ]


def query_figures(
    key: str,
    label: str,
    call: Callable[[K], Sequence[object]],
    keys: Sequence[K],
    *,
    goal_ms: float,
    warmup: int = 10,
) -> list[Figure]:
    """Time `call` over `keys` after warming up on the first few; p50, p95, rows per call."""
    for key_ in keys[:warmup]:
        call(key_)
    rows: list[int] = []
    seconds = timed(lambda k: rows.append(len(call(k))), keys[warmup:])
    return [
        *latency_figures(key, label, seconds, 95, goal_ms),
        Figure(f"{key}_rows", f"{label} rows/query", statistics.fmean(rows), "rows"),
    ]
