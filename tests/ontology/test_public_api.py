"""The package's public surface is exactly `__all__`, and its examples run."""

from __future__ import annotations

import doctest

import ontology
from ontology import _catalogue, _store, errors
from tests.public_surface import assert_documented, assert_public_surface


def test_all_is_the_public_surface() -> None:
    assert_public_surface(ontology, errors)


def test_every_public_class_and_function_has_its_own_docstring() -> None:
    assert_documented(ontology)


def test_docstring_examples_run() -> None:
    for module in (_catalogue, _store):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
