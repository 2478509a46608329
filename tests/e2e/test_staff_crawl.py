"""Every staff screen, as an admin who is also a custodian and an operator: each button is answered, nothing
Telegram refuses is sent (the bot fixture checks), and no screen is a dead end."""

from __future__ import annotations

import pytest

from bot import callbacks
from storage.domain import users
from tests.e2e.harness import crawl

ADMIN_ID = 7070


@pytest.fixture
def bot_env() -> dict[str, str]:
    return {"QC_ADMIN_IDS": str(ADMIN_ID)}


async def test_every_staff_screen_answers_and_is_never_a_dead_end(bot):
    staff = bot.person("Capo", "it", user_id=ADMIN_ID)
    content = bot.runtime.content
    estate = next(iter(content.estates.values()))
    async with bot.runtime.db.write() as session:
        await users.touch_user(session, ADMIN_ID, "Capo", "it", bot.clock.now())
        await users.grant_role(session, ADMIN_ID, "custodian", estate.id, bot.clock.now(), None)
        await users.grant_role(session, ADMIN_ID, "operator", estate.space_id, bot.clock.now(), None)
    await staff.send("/start")
    await staff.tap("✅")

    def follow(data: str, screen) -> list[str]:  # type: ignore[no-untyped-def]
        markup = screen.reply_markup or {}
        if "keyboard" in markup:
            return []  # a reply keyboard (location request) with its own Cancel
        datas = [d for row in markup.get("inline_keyboard", []) for b in row if (d := b.get("callback_data"))]
        urls = [b for row in markup.get("inline_keyboard", []) for b in row if b.get("url")]
        shown = (screen.text or screen.caption or "")[:100]
        assert datas or urls, f"dead end after {data!r}: {screen.kind} {shown!r}"
        # Revoking roles or switching language would change who is crawling; everything else is fair game.
        skip = (callbacks.SET_LANGUAGE, callbacks.ROLE_REVOKE)
        return [d for d in datas if callbacks.decode(d).action not in skip]

    presses = await crawl(staff, callbacks.encode(callbacks.STAFF), 200, follow)
    assert presses > 10
