"""Regenerate the initial migration from the models (development only, before the first release).

Nothing is deployed yet, so the schema is one migration; after the first release, add new revisions with
`alembic revision --autogenerate` instead. Usage: python -m storage.migrations.regenerate
"""

import tempfile
from pathlib import Path

from alembic import command

from storage.db import MIGRATIONS_DIR, alembic_config


def main() -> None:
    for old in (MIGRATIONS_DIR / "versions").glob("0001_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as folder:
        config = alembic_config(f"sqlite+aiosqlite:///{Path(folder) / 'empty.sqlite3'}")
        command.revision(config, message="initial schema", autogenerate=True, rev_id="0001")
    print("wrote", *sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("0001_*.py")))


if __name__ == "__main__":
    main()
