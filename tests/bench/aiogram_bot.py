"""A bare aiogram 3 reference bot for `qcbot bench load`: the same work as the bare PTB bots (tests/bench/bare.py) —
a text gets two inline buttons, a press is answered and the message edited — so the product can be compared with
another framework too. aiogram is an optional, bench-only dependency (`pip install -e '.[bench]'`)."""

from __future__ import annotations

import asyncio

from aiohttp import web

_EDIT_TEXTS = ("Tick", "Tock")


async def serve_aiogram(api_url: str, file_url: str, token: str, mode: str, webhook_url: str, webhook_path: str,
                        secret: str, listen_port: int, stop: asyncio.Event) -> None:
    try:
        from aiogram import Bot, Dispatcher, F
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer
        from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
        from aiogram.webhook.aiohttp_server import SimpleRequestHandler
    except ImportError as error:  # the bench extra is not installed
        raise SystemExit("bare-aiogram needs aiogram: pip install -e '.[bench]'") from error

    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="A", callback_data="a"),
                                                      InlineKeyboardButton(text="B", callback_data="b")]])
    # api_url is PTB's base (http://host:port/bot); aiogram wants the whole pattern.
    server = TelegramAPIServer(base=f"{api_url}{{token}}/{{method}}", file=f"{file_url}{{token}}/{{path}}")
    bot = Bot(token, session=AiohttpSession(api=server, limit=256))
    dispatcher = Dispatcher()

    @dispatcher.message(F.text)
    async def reply_with_buttons(message: Message) -> None:
        await message.answer("Pick one", reply_markup=keyboard)

    @dispatcher.callback_query()
    async def answer_and_edit(query: CallbackQuery) -> None:
        await query.answer()
        current = query.message.text if isinstance(query.message, Message) else None
        await query.message.edit_text(_EDIT_TEXTS[1] if current == _EDIT_TEXTS[0] else _EDIT_TEXTS[0],
                                      reply_markup=keyboard)

    runner: web.AppRunner | None = None
    polling: asyncio.Task | None = None
    try:
        if mode == "webhook":
            app = web.Application()
            SimpleRequestHandler(dispatcher=dispatcher, bot=bot, secret_token=secret,
                                 handle_in_background=True).register(app, path=webhook_path)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", listen_port).start()
            await bot.set_webhook(webhook_url, secret_token=secret)
        else:
            await bot.delete_webhook()
            polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False, polling_timeout=20))
        await stop.wait()
    finally:
        if polling is not None:
            await dispatcher.stop_polling()
            await asyncio.gather(polling, return_exceptions=True)
        if runner is not None:
            await runner.cleanup()
        await bot.session.close()
