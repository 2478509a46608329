"""bot.ui: the pressed message's keyboard and formatting reach PTB unparsed, and show()'s "nothing changed" check
reads them from there."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


# --- parse_update: the shortcut for a press gives what PTB's Update.de_json gives

_USERS = st.fixed_dictionaries(
    {"id": st.integers(1, 2**40), "is_bot": st.booleans(), "first_name": st.text(min_size=1, max_size=8)},
    optional={"last_name": st.text(max_size=8), "username": st.text(max_size=8), "language_code": st.sampled_from(["it", "ar"])},
)
_PRESSED = st.fixed_dictionaries(
    {"message_id": st.integers(1, 10**6), "chat": st.fixed_dictionaries({"id": st.integers(1, 2**40), "type": st.just("private")},
                                                                         optional={"first_name": st.text(max_size=8)}),
     "date": st.integers(1, 2**31)},
    optional={"from": _USERS, "edit_date": st.integers(1, 2**31), "text": st.text(max_size=30),
              "reply_markup": st.just({"inline_keyboard": [[{"text": "Menu", "callback_data": "1|m"}]]}),
              "entities": st.just([{"type": "bold", "offset": 0, "length": 1}]),
              # not a plain press: PTB parses these itself
              "photo": st.just([{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}]),
              "caption": st.text(max_size=5)},
)
_PRESSES = st.fixed_dictionaries(
    {"update_id": st.integers(1, 10**9),
     "callback_query": st.fixed_dictionaries({"id": st.text(min_size=1, max_size=6), "from": _USERS, "message": _PRESSED,
                                              "chat_instance": st.text(max_size=6)},
                                             optional={"data": st.text(max_size=10)})},
)


@settings(max_examples=150, deadline=None)
@given(_PRESSES, st.sampled_from([None, "Europe/Rome"]))
def test_a_press_parsed_directly_is_the_update_ptb_would_build(update, timezone):
    from telegram.ext import Defaults, ExtBot
    from zoneinfo import ZoneInfo

    from bot.ui import parse_update

    bot = ExtBot("1:x", defaults=Defaults(tzinfo=ZoneInfo(timezone))) if timezone else Bot("1:x")
    ours, ptb = parse_update(slim_pressed_message(json.loads(json.dumps(update))), bot), \
        Update.de_json(slim_pressed_message(json.loads(json.dumps(update))), bot)
    assert ours.to_dict() == ptb.to_dict()
    mine, theirs = ours.callback_query.message, ptb.callback_query.message
    assert type(mine) is type(theirs) and mine.api_kwargs == theirs.api_kwargs
    # The pressed message is built attribute by attribute (bot.ui._pressed_message): every one as PTB's.
    slots = {slot for cls in type(mine).__mro__[:-1] for slot in getattr(cls, "__slots__", ())}
    assert {slot: getattr(mine, slot) for slot in slots if slot != "_bot"} == \
        {slot: getattr(theirs, slot) for slot in slots if slot != "_bot"}
    assert mine == theirs and hash(mine) == hash(theirs)
    with pytest.raises(AttributeError):
        mine.text = "changed"  # frozen, as PTB leaves it
    assert (mine.date, mine.edit_date) == (theirs.date, theirs.edit_date) and mine.date.tzinfo == theirs.date.tzinfo
    assert ours.get_bot() is bot and ours.callback_query.get_bot() is bot and mine.get_bot() is bot
    assert mine.chat.get_bot() is bot and ours.callback_query.from_user.get_bot() is bot
    assert ours.effective_chat.id == ptb.effective_chat.id and ours.effective_user == ptb.effective_user


def test_a_plain_press_is_built_without_ptb_s_parser_and_anything_else_goes_to_it(monkeypatch):
    from bot.ui import parse_update

    press = {"update_id": 5, "callback_query": {
        "id": "q", "from": {"id": 7, "is_bot": False, "first_name": "Amal"}, "chat_instance": "c", "data": "1|m",
        "message": {"message_id": 3, "chat": {"id": 7, "type": "private"}, "date": 1765000000, "text": "Menu",
                    "reply_markup": {"inline_keyboard": []}}}}
    with_photo = json.loads(json.dumps(press))
    with_photo["callback_query"]["message"]["photo"] = [{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}]
    parsed_by_ptb = []
    real = Update.de_json.__func__
    monkeypatch.setattr(Update, "de_json", classmethod(lambda cls, data, bot=None: parsed_by_ptb.append(data) or real(cls, data, bot)))
    assert parse_update(slim_pressed_message(press), Bot("1:x")).callback_query.message.text == "Menu"
    assert parsed_by_ptb == []
    assert parse_update(slim_pressed_message(with_photo), Bot("1:x")).callback_query.message.photo
    assert len(parsed_by_ptb) == 1
