from __future__ import annotations

import doctest

import agents
from agents import _fakes, errors
from tests.public_surface import assert_documented, assert_public_surface


def test_all_is_the_public_surface() -> None:
    assert_public_surface(agents, errors)


def test_every_public_class_and_function_has_its_own_docstring() -> None:
    assert_documented(agents)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(_fakes)
    assert result.attempted > 0 and result.failed == 0
