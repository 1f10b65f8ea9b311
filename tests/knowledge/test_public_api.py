from __future__ import annotations

import inspect

import knowledge
from knowledge import errors


def test_all_is_the_public_surface() -> None:
    assert set(knowledge.__all__) == {n for n in dir(knowledge) if not n.startswith("_")}
    assert set(errors.__all__) == {n for n in dir(errors) if n.endswith("Error")}


def test_every_public_class_and_function_has_a_docstring() -> None:
    objects = [getattr(knowledge, n) for n in knowledge.__all__]
    documented = [o for o in objects if inspect.isclass(o) or inspect.isfunction(o)]
    missing = [o.__name__ for o in documented if not inspect.getdoc(o)]
    assert len(documented) > 10
    assert missing == []
