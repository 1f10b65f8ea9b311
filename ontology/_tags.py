"""Tags: labels on entities (`docs/Ontology.md`: a tag table and an entity-tag junction)."""

from __future__ import annotations

from typing import get_args

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from ontology._entities import require
from ontology._paging import check_length, check_limit
from ontology._records import Entity, Tag, TagCategory, now_ms
from ontology._scope import Scope, new_id
from ontology._tables import EntityRow, EntityTagRow, TagRow
from ontology.errors import DuplicateTagError, InvalidInputError, NotFoundError

_CATEGORIES: tuple[str, ...] = get_args(TagCategory)


class Tags:
    """The tags of a store (`store.tags`)."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def add(
        self,
        entity_id: str,
        name: str,
        *,
        category: TagCategory = "topic",
        description: str | None = None,
        color: str | None = None,
        icon: str | None = None,
    ) -> Tag:
        """Tag an entity, creating the tag on first use (category and looks apply then).

        Raises:
            NotFoundError: no such entity.
            DuplicateTagError: the entity already has this tag.
        """
        _check(name, category)
        with self._scope.write() as session:
            require(session, {entity_id})
            tag = self._ensure(session, name, category, description, color, icon)
            if session.get(EntityTagRow, (entity_id, tag.id)) is not None:
                raise DuplicateTagError(entity_id, name)
            session.add(EntityTagRow(entity_id=entity_id, tag_id=tag.id, created_at=now_ms()))
            session.flush()
            return Tag.of(_count(session, tag, +1))

    def remove(self, entity_id: str, name: str) -> None:
        """Take a tag off an entity; `NotFoundError` if it does not carry it."""
        with self._scope.write() as session:
            tag = session.exec(select(TagRow).where(TagRow.name == name)).first()
            link = session.get(EntityTagRow, (entity_id, tag.id)) if tag else None
            if tag is None or link is None:
                raise NotFoundError("tag", name, f"entity {entity_id!r} does not carry it")
            session.delete(link)
            session.flush()
            _count(session, tag, -1)

    def get(self, name: str) -> Tag:
        """The tag called `name`."""
        with self._scope.read() as session:
            tag = session.exec(select(TagRow).where(TagRow.name == name)).first()
        if tag is None:
            raise NotFoundError("tag", name, "tags are created by tags.add(entity_id, name)")
        return Tag.of(tag)

    def of(self, entity_id: str) -> list[Tag]:
        """The tags an entity carries, by name."""
        query = (
            select(TagRow)
            .join(EntityTagRow, col(EntityTagRow.tag_id) == col(TagRow.id))
            .where(EntityTagRow.entity_id == entity_id)
            .order_by(col(TagRow.name))
        )
        with self._scope.read() as session:
            return [Tag.of(t) for t in session.exec(query)]

    def entities(
        self, name: str, *, limit: int = 100, include_deleted: bool = False
    ) -> list[Entity]:
        """Entities that carry the tag `name`, oldest first."""
        check_limit(limit)
        query = (
            select(EntityRow)
            .join(EntityTagRow, col(EntityTagRow.entity_id) == col(EntityRow.id))
            .join(TagRow, col(TagRow.id) == col(EntityTagRow.tag_id))
            .where(TagRow.name == name)
        )
        if not include_deleted:
            query = query.where(col(EntityRow.deleted_at).is_(None))
        query = query.order_by(col(EntityRow.created_at), col(EntityRow.id)).limit(limit)
        with self._scope.read() as session:
            return [Entity.of(r) for r in session.exec(query)]

    def _ensure(
        self,
        session: Session,
        name: str,
        category: str,
        description: str | None,
        color: str | None,
        icon: str | None,
    ) -> TagRow:
        dialect = postgresql if self._scope.dialect == "postgresql" else sqlite
        values = {
            "id": new_id(),
            "name": name,
            "category": category,
            "description": description,
            "color": color,
            "icon": icon,
            "usage_count": 0,
            "created_at": now_ms(),
        }
        # Two writers may create the same tag at once: the second insert does nothing.
        session.execute(
            dialect.insert(TagRow.__table__)  # type: ignore[attr-defined]
            .values(values)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return session.exec(select(TagRow).where(TagRow.name == name)).one()


def _count(session: Session, tag: TagRow, delta: int) -> TagRow:
    """Change a tag's usage count in the database (no lost update under concurrency)."""
    session.execute(
        update(TagRow)
        .where(col(TagRow.id) == tag.id)
        .values(usage_count=col(TagRow.usage_count) + delta)
    )
    session.refresh(tag)
    return tag


def _check(name: str, category: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError("name", "a tag name must be a non-empty string")
    check_length("name", name, 128)
    if category not in _CATEGORIES:
        raise InvalidInputError("category", f"{category!r} is not one of {', '.join(_CATEGORIES)}")
