"""The catalogue of entity, connection and event types, held as data.

ONE's built-in types and a developer's own go through the same `Catalogue.register`.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ValidationError

from ontology.errors import CatalogueError, InvalidInputError, UnknownTypeError

Kind: TypeAlias = Literal["entity", "connection", "event"]

_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


@dataclass(frozen=True)
class EntityType:
    """An entity type: a kind of thing (`creator`, `ai_clone`, `blog_post`, ...).

    Attributes:
        name: snake_case name, unique among entity types.
        group: the group it belongs to (`core`, `business_agents`, ...).
        description: one line on what it is.
        properties: a pydantic model that validates `properties`; `None` accepts any JSON object.
    """

    name: str
    group: str
    description: str = ""
    properties: type[BaseModel] | None = None

    kind: Literal["entity"] = "entity"


@dataclass(frozen=True)
class _WithMetadata:
    name: str
    group: str
    description: str = ""
    metadata: type[BaseModel] | None = None


@dataclass(frozen=True)
class ConnectionType(_WithMetadata):
    """A connection type: a relationship between two entities (`owns`, `clone_of`, ...).

    Attributes:
        metadata: a pydantic model that validates `metadata`; `None` accepts any JSON object.
    """

    kind: Literal["connection"] = "connection"


@dataclass(frozen=True)
class EventType(_WithMetadata):
    """An event type: something that happened (`clone_created`, `payment_processed`, ...).

    Attributes:
        metadata: a pydantic model that validates `metadata`; `None` accepts any JSON object.
    """

    kind: Literal["event"] = "event"


TypeDef: TypeAlias = EntityType | ConnectionType | EventType


class Catalogue:
    """The types a store accepts, with the models that validate their data.

    Example:
        >>> from pydantic import BaseModel
        >>> class Mentioned(BaseModel):
        ...     platform: str
        >>> catalogue = Catalogue.default()
        >>> catalogue.register(EventType("brand_mentioned", "growth", metadata=Mentioned))
        >>> catalogue.validate("event", "brand_mentioned", {"platform": "youtube"})
        {'platform': 'youtube'}
    """

    def __init__(self, types: Iterable[TypeDef] = ()) -> None:
        self._types: dict[Kind, dict[str, TypeDef]] = {"entity": {}, "connection": {}, "event": {}}
        self.register(*types)

    @classmethod
    def default(cls) -> Catalogue:
        """A new catalogue holding ONE's built-in types (reference sections 1a, 2a, 3a)."""
        from ontology._builtins import BUILTIN_TYPES

        return cls(BUILTIN_TYPES)

    def register(self, *types: TypeDef) -> None:
        """Add types. Registering an identical definition again does nothing.

        Raises:
            CatalogueError: a name is not snake_case, or is taken by a different definition.
        """
        for t in types:
            if not _NAME.match(t.name) or len(t.name) > 64:
                raise CatalogueError(
                    f"{t.kind} type name {t.name!r} is not snake_case of at most 64 "
                    "characters; use e.g. 'brand_mentioned'"
                )
            known = self._types[t.kind].get(t.name)
            if known is not None and known != t:
                raise CatalogueError(
                    f"{t.kind} type {t.name!r} is already registered with another definition "
                    f"(group {known.group!r}); pick another name"
                )
            self._types[t.kind][t.name] = t

    def get(self, kind: Kind, name: str) -> TypeDef:
        """The type called `name`.

        Raises:
            UnknownTypeError: with the closest known name, when one is close.
        """
        try:
            return self._types[kind][name]
        except KeyError:
            close = difflib.get_close_matches(name, self._types[kind], n=1, cutoff=0.6)
            raise UnknownTypeError(kind, name, close[0] if close else None) from None

    def names(self, kind: Kind, group: str | None = None) -> list[str]:
        """The names of every type of `kind`, optionally only those in `group`, sorted."""
        return sorted(n for n, t in self._types[kind].items() if group in (None, t.group))

    def groups(self, kind: Kind) -> dict[str, list[str]]:
        """Group name to the sorted type names in it."""
        out: dict[str, list[str]] = {}
        for name in self.names(kind):
            out.setdefault(self._types[kind][name].group, []).append(name)
        return out

    def validate(self, kind: Kind, name: str, data: Mapping[str, Any] | None) -> dict[str, Any]:
        """Check `data` (an entity's properties or a connection's or event's metadata).

        Returns:
            The data as stored: validated by the type's model where it has one
            (camelCase keys, `None` fields dropped), or the JSON object as given.

        Raises:
            UnknownTypeError: `name` is not a known type of `kind`.
            InvalidInputError: names the offending field and why.
        """
        t = self.get(kind, name)
        field = "properties" if kind == "entity" else "metadata"
        model = t.properties if isinstance(t, EntityType) else t.metadata
        data = {} if data is None else data
        if not isinstance(data, Mapping):
            raise InvalidInputError(field, f"must be a JSON object, got {type(data).__name__}")
        if model is None:
            return _plain_json(field, data)
        try:
            valid = model.model_validate(dict(data)).model_dump(
                mode="json", by_alias=True, exclude_none=True
            )
        except ValidationError as e:
            raise _invalid(field, name, e) from None
        _check_no_nul(field, json.dumps(valid))
        return valid


def _plain_json(field: str, data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        text = json.dumps(dict(data), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(field, f"must be plain JSON (str, number, list, dict): {e}") from e
    _check_no_nul(field, text)
    out: dict[str, Any] = json.loads(text)
    return out


def _check_no_nul(field: str, text: str) -> None:
    if "\\u0000" in text:  # PostgreSQL's JSON cannot hold it
        raise InvalidInputError(field, "must not contain NUL characters (\\u0000)")


def _invalid(field: str, type_name: str, error: ValidationError) -> InvalidInputError:
    first = error.errors()[0]
    where = ".".join([field, *(str(p) for p in first["loc"])])
    extra = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return InvalidInputError(where, f"{first['msg']} for type {type_name!r}{extra}")
