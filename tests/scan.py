"""Look through every column of every table for a person's traces (their Telegram id, a phone number)."""

from __future__ import annotations

import json

from sqlalchemy import select

from storage.db import Database
from storage.models import Base


async def traces_of(db: Database, *needles: int | str) -> list[str]:
    """'table.column = value' for every cell that equals an id or contains one of the needles as text."""
    texts = [str(needle) for needle in needles]
    found = []
    async with db.read(long=True) as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).mappings():
                for column, value in row.items():
                    shown = json.dumps(value, default=str, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
                    if value in needles or any(text in shown for text in texts):
                        found.append(f"{table.name}.{column} = {shown[:80]}")
    return found
