"""The package's public surface is exactly `__all__`, and its examples run."""

from __future__ import annotations

import doctest
import inspect

import ontology
from ontology import _catalogue, _store, errors


def test_all_is_the_public_surface() -> None:
    public = {name for name in dir(ontology) if not name.startswith("_")}
    assert set(ontology.__all__) == public
    assert set(errors.__all__) == {n for n in dir(errors) if n.endswith("Error")}


def test_every_public_class_and_function_has_its_own_docstring() -> None:
    objects = [getattr(ontology, n) for n in ontology.__all__]
    documented = [o for o in objects if inspect.isclass(o) or inspect.isfunction(o)]
    assert len(documented) > 10
    own_doc = [vars(o).get("__doc__") if inspect.isclass(o) else o.__doc__ for o in documented]
    assert [o.__name__ for o, doc in zip(documented, own_doc, strict=True) if not doc] == []


def test_docstring_examples_run() -> None:
    for module in (_catalogue, _store):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
