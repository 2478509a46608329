"""Look through every column of every table for a person's traces (their Telegram id, a phone number)."""

from __future__ import annotations

import json

from sqlalchemy import select

from storage.db import Database
from storage.models import Base


async def traces_of(db: Database, *needles: int | str) -> list[str]:
    """'table.column = value' for every cell that equals an id, or is text (or JSON) containing one of the needles.
    Numbers and times are compared whole: an update id or a microsecond may hold a short id's digits by chance."""
    texts = [str(needle) for needle in needles]
    found = []
    async with db.read(long=True) as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).mappings():
                for column, value in row.items():
                    if isinstance(value, dict | list):
                        shown = json.dumps(value, default=str, ensure_ascii=False)
                    elif isinstance(value, str | bytes):
                        shown = value if isinstance(value, str) else value.decode("utf-8", "replace")
                    else:
                        shown = ""
                    if value in needles or any(text in shown for text in texts):
                        found.append(f"{table.name}.{column} = {(shown or str(value))[:80]}")
    return found
