"""`python -m ontology migrate [URL]`: bring a database's schema up to date."""

from __future__ import annotations

import sys

from ontology import _migrate
from ontology._database import Database, database_url


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "migrate" or len(argv) > 2:
        print("usage: python -m ontology migrate [DATABASE_URL]", file=sys.stderr)
        return 2
    db = Database.connect(database_url(argv[1] if len(argv) == 2 else None))
    before = _migrate.current(db)
    _migrate.upgrade(db)
    print(f"{db.url}: {before or 'empty'} -> {_migrate.current(db)}")
    db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
