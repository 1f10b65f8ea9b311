"""What installed packages add to ONE: objects named by entry points in a group."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from agents.errors import ConfigurationError


def plugins(group: str, what: str) -> Iterator[tuple[EntryPoint, Any]]:
    """Each entry point of `group` (e.g. `one.agents`) with the object it names, loaded.

    Raises:
        ConfigurationError: an entry point that does not load, naming it (`what` says
            what kind of plugin it is, for the message).
    """
    for entry in entry_points(group=group):
        try:
            loaded = entry.load()
        except Exception as e:
            raise ConfigurationError(
                f"the {what} plugin {entry.name} = {entry.value} does not load: {e}"
            ) from e
        yield entry, loaded
