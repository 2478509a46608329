"""Updates of one chat are handled in order; different chats concurrently."""

import asyncio

from telegram import Chat, Message, Update, User

from bot.app import PerChatProcessor


def update_in_chat(update_id: int, chat_id: int) -> Update:
    user = User(chat_id, "Tenant", False)
    message = Message(update_id, None, Chat(chat_id, "private"), from_user=user, text="hi")
    return Update(update_id, message=message)


async def test_one_chat_in_order_other_chats_meanwhile():
    processor = PerChatProcessor(16)
    log: list[str] = []
    first_started, release_first = asyncio.Event(), asyncio.Event()

    async def slow_first():
        log.append("A1 start")
        first_started.set()
        await release_first.wait()
        log.append("A1 end")

    async def note(name):
        log.append(name)

    tasks = [asyncio.create_task(processor.process_update(update_in_chat(1, 100), slow_first()))]
    await first_started.wait()
    tasks.append(asyncio.create_task(processor.process_update(update_in_chat(2, 100), note("A2"))))
    tasks.append(asyncio.create_task(processor.process_update(update_in_chat(3, 200), note("B1"))))
    await asyncio.sleep(0.05)
    assert log == ["A1 start", "B1"]  # chat 200 did not wait for chat 100; A2 waits for A1
    release_first.set()
    await asyncio.gather(*tasks)
    assert log == ["A1 start", "B1", "A1 end", "A2"]
    assert not processor._locks  # idle chats are forgotten
