"""Telegram HTML parse mode: accepted markup, entities in UTF-16 units, and Telegram's exact errors."""

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.emulator.html_check import (
    EntityParseError,
    FormattedText,
    html_error,
    parse_html,
    strip_formatted,
    utf16_length,
)


def entity(kind: str, offset: int, length: int, **extra: object) -> dict:
    return {"type": kind, "offset": offset, "length": length, **extra}


@pytest.mark.parametrize(
    ("source", "text", "entities"),
    [
        ("plain", "plain", []),
        ("<b>bold</b> <strong>s</strong>", "bold s", [entity("bold", 0, 4), entity("bold", 5, 1)]),
        ("<i>i</i><em>e</em>", "ie", [entity("italic", 0, 1), entity("italic", 1, 1)]),
        ("<u>u</u><ins>n</ins>", "un", [entity("underline", 0, 1), entity("underline", 1, 1)]),
        (
            "<s>a</s><strike>b</strike><del>c</del>",
            "abc",
            [entity("strikethrough", 0, 1), entity("strikethrough", 1, 1), entity("strikethrough", 2, 1)],
        ),
        (
            '<tg-spoiler>x</tg-spoiler><span class="tg-spoiler">y</span>',
            "xy",
            [entity("spoiler", 0, 1), entity("spoiler", 1, 1)],
        ),
        ('<a href="https://comune.milano.it/">link</a>', "link", [entity("text_link", 0, 4, url="https://comune.milano.it/")]),
        ("<code>x = 1</code>", "x = 1", [entity("code", 0, 5)]),
        ("<pre>raw</pre>", "raw", [entity("pre", 0, 3)]),
        ('<pre><code class="language-python">p</code></pre>', "p", [entity("pre", 0, 1, language="python")]),
        ("<blockquote>q</blockquote>", "q", [entity("blockquote", 0, 1)]),
        ("<blockquote expandable>q</blockquote>", "q", [entity("expandable_blockquote", 0, 1)]),
        (
            '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
            "👍",
            [entity("custom_emoji", 0, 2, custom_emoji_id="5368324170671202286")],
        ),
        ("<b>a <i>b</i></b>", "a b", [entity("bold", 0, 3), entity("italic", 2, 1)]),
        ("&lt;&gt;&amp;&quot;&#65;&#x42;&#x1F600;", '<>&"AB😀', []),
        ("AT&T & co", "AT&T & co", []),
        ("<B>upper</b>", "upper", [entity("bold", 0, 5)]),
        ("<b></b>empty", "empty", []),
        ("<b>x</>", "x", [entity("bold", 0, 1)]),
    ],
)
def test_accepted_markup_gives_plain_text_and_entities(source: str, text: str, entities: list) -> None:
    assert parse_html(source) == FormattedText(text, entities)


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("Ciao <br> Amal", 'Unsupported start tag "br" at byte offset 5'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("trailing <", "Unclosed start tag at byte offset 9"),
        ("<b>never closed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("stray</b>", "Unexpected end tag at byte offset 5"),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("<B>x</B>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</B>"'),  # as tdlib
        ("<span>s</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("&nbsp;", 'Unsupported HTML entity "&nbsp;" at byte offset 0; only &lt; &gt; &amp; &quot; and numeric entities are supported'),
        ('<tg-emoji emoji-id="abc">x</tg-emoji>', "Invalid custom emoji identifier specified"),
        # Cases from tdlib's own tests, with multi-byte characters before the fault.
        ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
        ("🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba>", 'Expected equal sign in declaration of an attribute of the tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
        ('🏟 🏟&lt;<i    aba  =  "&lt;&gt;&quot;>', "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"),
        ("🏟 🏟&lt;<b></b></", "Unexpected end tag at byte offset 20"),
        ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
        ("🏟 🏟&lt;<i>a</em   >", 'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"'),
        ("&#57311;", "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched surrogate code units"),
    ],
)
def test_invalid_markup_is_refused_with_telegrams_description(source: str, error: str) -> None:
    with pytest.raises(EntityParseError) as raised:
        parse_html(source)
    assert raised.value.description == error
    assert html_error(source) == error


def test_valid_markup_has_no_error() -> None:
    assert html_error("<b>Orari</b> &amp; servizi") is None


def test_entity_offsets_count_utf16_code_units() -> None:
    parsed = parse_html("😀 <b>è 😀</b> <i>x</i>")
    assert parsed.text == "😀 è 😀 x"
    assert parsed.entities == [entity("bold", 3, 4), entity("italic", 8, 1)]
    assert utf16_length("😀è") == 3


def test_link_without_href_uses_its_text_and_invalid_links_get_no_entity() -> None:
    assert parse_html("<a>https://example.org</a>").entities == [
        entity("text_link", 0, 19, url="https://example.org")
    ]
    assert parse_html('<a href="not a url">x</a>').entities == []
    assert parse_html('<a href="tg://user?id=42">Amal</a>').entities[0]["type"] == "text_mention"


def test_attribute_values_decode_entities_and_ignore_unknown_attributes() -> None:
    parsed = parse_html('<a title="t" href="https://x.it/?a=1&amp;b=2">x</a>')
    assert parsed.entities[0]["url"] == "https://x.it/?a=1&b=2"


def test_strip_moves_entities_with_the_trimmed_text() -> None:
    stripped = strip_formatted(parse_html("\n  <b>Ciao</b> <i>Amal</i>  \n"))
    assert stripped == FormattedText("Ciao Amal", [entity("bold", 0, 4), entity("italic", 5, 4)])
    assert strip_formatted(parse_html("<b>  </b>x")) == FormattedText("x", [])


@given(st.text())
def test_escaped_text_round_trips(text: str) -> None:
    assert parse_html(html.escape(text)) == FormattedText(text, [])


@given(st.lists(st.sampled_from(["<b>", "</b>", "<i>", "</i>", "<", ">", "&", "&amp;", "&#", "x", "é", "😀", " ", '"', "="])))
def test_any_input_parses_or_is_refused_cleanly(pieces: list[str]) -> None:
    source = "".join(pieces)
    try:
        parsed = parse_html(source)
    except EntityParseError as error:
        assert error.description
        return
    total = utf16_length(parsed.text)
    for found in parsed.entities:
        assert 0 <= found["offset"] and found["length"] > 0 and found["offset"] + found["length"] <= total
