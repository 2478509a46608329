from hypothesis import given
from hypothesis import strategies as st

import pytest

from bot import callbacks


def test_round_trip():
    data = callbacks.encode(callbacks.SPACE_SERVICES, "omero", 2)
    decoded = callbacks.decode(data)
    assert decoded.action is callbacks.SPACE_SERVICES and decoded.args == ("omero", "2")


def test_encode_refuses_what_telegram_or_decode_would_refuse():
    with pytest.raises(ValueError):
        callbacks.encode(callbacks.SPACE, "x" * 41)
    with pytest.raises(ValueError):
        callbacks.encode(callbacks.SPACE, "a|b")
    with pytest.raises(ValueError):
        callbacks.encode(callbacks.SPACES)


@pytest.mark.parametrize("data", [None, "", "0|s|omero", "1|zz", "1|s", "1|s|a|b", "1|sl|x", "2|m", "1|s|" + "a" * 70])
def test_stale_or_forged_data_decodes_to_none(data):
    assert callbacks.decode(data) is None


@given(st.text(max_size=80))
def test_decode_never_raises(data):
    decoded = callbacks.decode(data)
    if decoded is not None:
        assert callbacks.encode(decoded.action, *decoded.args) == data


@given(st.sampled_from(list(callbacks.ACTIONS.values())), st.data())
def test_every_action_fits_in_64_bytes_with_longest_arguments(action, data):
    longest = {"id": "x" * 40, "int": "-" + "9" * 11, "word": "w" * 16, "stamp": "2" * 12, "date": "2" * 8,
               "small": "999"}
    encoded = callbacks.encode(action, *(longest[kind] for kind in action.args))
    assert len(encoded.encode()) <= 64
