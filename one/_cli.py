"""The `one` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from one._demo import run_demo
from ontology.errors import OntologyError

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="ONE: run a creator's business with AI."
)


@app.callback()
def _main() -> None:
    """ONE: run a creator's business with AI."""


@app.command()
def demo(
    data_dir: Annotated[
        Path, typer.Option(envvar="ONE_DATA_DIR", help="Where the demo's database goes.")
    ] = Path(".one"),
) -> None:
    """Create a sample creator in a fresh database and print their timeline."""
    console = Console()
    try:
        run_demo(data_dir / "demo.db", console)
    except OntologyError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None
