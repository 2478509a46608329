"""The registration list's button routes, run as one PTB handler (bot.app.Buttons)."""

import pytest
from telegram import CallbackQuery, Chat, Message, Update, User
from telegram.ext import ApplicationBuilder, CallbackQueryHandler

from bot import app, callbacks

TENANT = User(id=7, first_name="Ada", is_bot=False)


def _press(data: str) -> Update:
    message = Message(message_id=1, date=None, chat=Chat(id=7, type="private"), text="…")  # type: ignore[arg-type]
    return Update(update_id=1, callback_query=CallbackQuery(id="q", from_user=TENANT, chat_instance="c", data=data,
                                                            message=message))


def _registered() -> list:
    application = ApplicationBuilder().token("1:x").build()
    app.register_handlers(application)
    return application.handlers[0]


def test_every_action_of_the_vocabulary_has_one_route_and_the_stale_button_handler_comes_next():
    handlers = _registered()
    [buttons] = [handler for handler in handlers if isinstance(handler, app.Buttons)]
    assert set(buttons.routes) == set(callbacks.ACTIONS.values())
    after = handlers[handlers.index(buttons) + 1]
    assert type(after) is CallbackQueryHandler and after.pattern is None  # fallback.stale_button


def test_a_press_picks_its_action_s_handler_and_anything_else_is_left_to_the_next_handler():
    async def spaces(update, context): ...
    async def space(update, context): ...

    buttons = app.Buttons([app.on(callbacks.SPACES, spaces), app.on(callbacks.SPACE, space)])
    assert buttons.check_update(_press(callbacks.encode(callbacks.SPACE, "omero"))) is space
    assert buttons.check_update(_press(callbacks.encode(callbacks.SPACES, 0))) is spaces
    assert buttons.check_update(_press(callbacks.encode(callbacks.MENU))) is None  # no route here
    assert buttons.check_update(_press("1|s|omero|forged")) is None  # one argument too many
    assert buttons.check_update(_press("not ours")) is None
    assert buttons.check_update(Update(update_id=2)) is None


def test_an_action_listed_twice_is_refused_when_the_bot_starts():
    async def one(update, context): ...

    with pytest.raises(ValueError, match="two handlers"):
        app.Buttons([app.on(callbacks.SPACES, one), app.on(callbacks.SPACES, one)])
