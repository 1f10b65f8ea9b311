"""Alembic migrations of the ontology schema: named, ordered, append-only, never edited."""
