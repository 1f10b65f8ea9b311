from __future__ import annotations

from agents import providers
from agents.providers import errors
from tests.public_surface import assert_documented, assert_public_surface


def test_all_is_the_public_surface() -> None:
    assert_public_surface(providers, errors)


def test_every_public_class_has_its_own_docstring() -> None:
    assert_documented(providers, at_least=10)
