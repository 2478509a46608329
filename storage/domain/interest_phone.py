"""A phone number typed for one "I'm interested": asked, awaited (the next text), checked. The number itself goes
into that interest only (job_interests.phone), never into the tenant's saved booking phone."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InterestPhonePrompt

# Unanswered, the question stops waiting after this long (the next text is then whatever it would have been).
PROMPT_LIFETIME = timedelta(minutes=30)


async def ask(session: AsyncSession, user_id: int, job_id: str, now: datetime) -> None:
    await session.execute(delete(InterestPhonePrompt).where(InterestPhonePrompt.user_id == user_id))
    session.add(InterestPhonePrompt(user_id=user_id, job_id=job_id, created_at=now))
    await session.flush()


async def pending(session: AsyncSession, user_id: int, now: datetime) -> InterestPhonePrompt | None:
    prompt = await session.get(InterestPhonePrompt, user_id)
    if prompt is None or prompt.created_at < now - PROMPT_LIFETIME:
        return None
    return prompt


async def drop(session: AsyncSession, user_id: int) -> bool:
    result = await session.execute(delete(InterestPhonePrompt).where(InterestPhonePrompt.user_id == user_id))
    return bool(result.rowcount)
