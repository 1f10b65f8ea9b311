"""Checks every package's public surface passes: `__all__` is exactly it, and it is documented."""

from __future__ import annotations

import inspect
from types import ModuleType


def assert_public_surface(package: ModuleType, errors: ModuleType) -> None:
    """`__all__` equals the public names; the errors module exports every error class."""
    assert set(package.__all__) == {n for n in dir(package) if not n.startswith("_")}
    assert set(errors.__all__) == {n for n in dir(errors) if n.endswith("Error")}


def assert_documented(package: ModuleType, *, at_least: int = 10) -> None:
    """Every public class and function has a docstring of its own."""
    objects = [getattr(package, n) for n in package.__all__]
    documented = [o for o in objects if inspect.isclass(o) or inspect.isfunction(o)]
    own = [vars(o).get("__doc__") if inspect.isclass(o) else o.__doc__ for o in documented]
    assert len(documented) >= at_least
    assert [o.__name__ for o, doc in zip(documented, own, strict=True) if not doc] == []
