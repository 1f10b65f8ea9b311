"""Run the benchmarks: `python -m bench [--quick] [--only NAME]`.

`--only` takes a module (`ontology`), a benchmark (`batched_appends`) or both
(`ontology.batched_appends`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import platform
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench

Benchmark = Callable[[bool], dict[str, Any]]
RESULTS_DIR = Path(__file__).parent / ".results"


def discover() -> dict[str, dict[str, Benchmark]]:
    """Module name (without `_bench`) to its benchmarks, for every `bench/*_bench.py`."""
    found: dict[str, dict[str, Benchmark]] = {}
    for module in pkgutil.iter_modules(bench.__path__):
        if module.name.endswith("_bench"):
            loaded = importlib.import_module(f"bench.{module.name}")
            found[module.name.removesuffix("_bench")] = dict(loaded.BENCHMARKS)
    return found


def select(modules: dict[str, dict[str, Benchmark]], only: str | None) -> dict[str, list[str]]:
    """The benchmarks to run, by module; `only` narrows them to one module or benchmark."""
    chosen = {
        module: [name for name in benchmarks if only in (None, module, name, f"{module}.{name}")]
        for module, benchmarks in modules.items()
    }
    return {module: names for module, names in chosen.items() if names}


def write_results(module: str, quick: bool, figures: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{module}.json"
    document = {
        "scale": "quick" if quick else "full",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "benchmarks": figures,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small scale, as a smoke test")
    parser.add_argument("--only", metavar="NAME", help="one module or benchmark")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    modules = discover()
    plan = select(modules, args.only)
    if not plan:
        names = [f"{m}.{b}" for m, benchmarks in modules.items() for b in benchmarks]
        print(f"no benchmark matches {args.only!r}; known: {', '.join(names)}", file=sys.stderr)
        return 2
    scale = "quick" if args.quick else "full"
    print(
        f"ONE benchmarks at {scale} scale (Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version})"
    )
    for module, names in plan.items():
        figures = {name: modules[module][name](args.quick) for name in names}
        print(f"figures written to {write_results(module, args.quick, figures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
