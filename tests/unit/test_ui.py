"""bot.ui: the pressed message's keyboard and formatting reach PTB unparsed, and show()'s "nothing changed" check
reads them from there."""

from __future__ import annotations

import json

from telegram import Bot, Update

from bot import callbacks
from bot.app import UpdatesRequest
from bot.ui import UNPARSED, Screen, _same_content, button, slim_pressed_message


def _press(text: str, keyboard: list[list[dict]]) -> dict:
    return {
        "update_id": 7,
        "callback_query": {
            "id": "q1", "from": {"id": 5, "is_bot": False, "first_name": "Amal"}, "chat_instance": "c", "data": "1|m",
            "message": {
                "message_id": 3, "date": 1_780_000_000, "chat": {"id": 5, "type": "private"}, "text": text,
                "entities": [{"type": "bold", "offset": 0, "length": 4}],
                "reply_markup": {"inline_keyboard": keyboard},
            },
        },
    }


def _parsed(data: dict) -> Update:
    return Update.de_json(slim_pressed_message(data), Bot("123:abc"))


def test_the_pressed_message_keeps_its_keyboard_and_entities_as_json() -> None:
    keyboard = [[{"text": "🏠 Menu", "callback_data": "1|m"}]]
    message = _parsed(_press("Menu principale", keyboard)).callback_query.message
    assert message.reply_markup is None and message.entities == ()
    assert message.api_kwargs[UNPARSED] == {"reply_markup": {"inline_keyboard": keyboard},
                                            "entities": [{"type": "bold", "offset": 0, "length": 4}]}
    assert message.text == "Menu principale"


def test_nothing_changed_compares_text_and_buttons() -> None:
    screen = Screen("<b>Menu</b> principale", [[button("🏠 Menu", callbacks.MENU)]])
    same = _parsed(_press("Menu principale", [[{"text": "🏠 Menu", "callback_data": callbacks.encode(callbacks.MENU)}]]))
    other_button = _parsed(_press("Menu principale", [[{"text": "🏠 Home", "callback_data": callbacks.encode(callbacks.MENU)}]]))
    other_text = _parsed(_press("Menu", [[{"text": "🏠 Menu", "callback_data": callbacks.encode(callbacks.MENU)}]]))
    assert _same_content(same.callback_query.message, screen)
    assert not _same_content(other_button.callback_query.message, screen)
    assert not _same_content(other_text.callback_query.message, screen)


def test_a_message_parsed_by_ptb_itself_is_compared_too() -> None:
    screen = Screen("Menu", [[button("🏠 Menu", callbacks.MENU)]])
    update = Update.de_json(_press("Menu", [[{"text": "🏠 Menu", "callback_data": callbacks.encode(callbacks.MENU)}]]), Bot("123:abc"))
    assert _same_content(update.callback_query.message, screen)


def test_other_updates_and_odd_json_pass_unchanged() -> None:
    message_update = {"update_id": 1, "message": {"message_id": 1, "text": "ciao", "reply_markup": {}}}
    assert slim_pressed_message(dict(message_update)) == message_update
    assert slim_pressed_message([1, 2]) == [1, 2]  # type: ignore[arg-type]
    assert slim_pressed_message({"callback_query": {"id": "x"}}) == {"callback_query": {"id": "x"}}


def test_the_long_poll_slims_every_update_it_receives() -> None:
    payload = json.dumps({"ok": True, "result": [_press("Menu", [[{"text": "A", "callback_data": "1|m"}]])]}).encode()
    parsed = UpdatesRequest.parse_json_payload(payload)
    assert UNPARSED in parsed["result"][0]["callback_query"]["message"]
    assert "reply_markup" not in parsed["result"][0]["callback_query"]["message"]
