from __future__ import annotations

import knowledge
from knowledge import errors
from tests.public_surface import assert_documented, assert_public_surface


def test_all_is_the_public_surface() -> None:
    assert_public_surface(knowledge, errors)


def test_every_public_class_and_function_has_its_own_docstring() -> None:
    assert_documented(knowledge)
