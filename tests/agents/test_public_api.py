from __future__ import annotations

import doctest
import inspect

import agents
from agents import _fakes, errors


def test_all_is_the_public_surface() -> None:
    assert set(agents.__all__) == {n for n in dir(agents) if not n.startswith("_")}
    assert set(errors.__all__) == {n for n in dir(errors) if n.endswith("Error")}


def test_every_public_class_and_function_has_a_docstring() -> None:
    objects = [getattr(agents, n) for n in agents.__all__]
    documented = [o for o in objects if inspect.isclass(o) or inspect.isfunction(o)]
    assert len(documented) > 10
    assert [o.__name__ for o in documented if not inspect.getdoc(o)] == []


def test_docstring_examples_run() -> None:
    result = doctest.testmod(_fakes)
    assert result.attempted > 0 and result.failed == 0
