"""The sandbox page on a phone (390×844, the size of a common Android or iPhone screen): the text grows with A±,
the tools drawer closes, nothing scrolls sideways, button text reaches WCAG AA contrast, times are the bot's (Rome)
time whatever the browser's zone, and an Arabic chat is mirrored as Telegram mirrors it.

Screenshots go to test-artifacts/sandbox/phone-*.png (LTR and Arabic) to look at.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from bot.emulator.sandbox.server import Sandbox
from tests.browser.conftest import ARTIFACTS, watched_page
from tests.browser.test_sandbox import last_bot_message, open_as, start_chat, tap

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
WCAG_AA_TEXT = 4.5

# The contrast of each visible button's text with what is behind it: the button's own background, composited over
# the backgrounds of its ancestors when it is translucent (Telegram's buttons over the chat's green).
CONTRAST_OF_BUTTONS = """() => {
  const rgba = (value) => {
    const parts = value.match(/[\\d.]+/g).map(Number);
    return { r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1 };
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a), g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a), a: 1,
  });
  const background = (node) => {
    const layers = [];
    for (let current = node; current; current = current.parentElement) {
      const colour = rgba(getComputedStyle(current).backgroundColor);
      if (colour.a > 0) layers.push(colour);
      if (colour.a === 1) break;
    }
    return layers.reverse().reduce((below, layer) => over(layer, below), { r: 255, g: 255, b: 255, a: 1 });
  };
  const luminance = ({ r, g, b }) => {
    const channel = (value) => { const c = value / 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  return [...document.querySelectorAll("button, a.inline-button")]
    .filter((node) => node.offsetParent !== null && node.textContent.trim())
    .map((node) => {
      const text = over(rgba(getComputedStyle(node).color), background(node));
      const [light, dark] = [luminance(text), luminance(background(node))].sort((x, y) => y - x);
      return { label: node.textContent.trim().slice(0, 30), ratio: (light + 0.05) / (dark + 0.05) };
    });
}"""


@pytest.fixture
async def phone(chromium, sandbox: Sandbox):  # type: ignore[no-untyped-def]
    """A phone-sized page in New York's time zone, to show that times on the page are still Rome's."""
    async with watched_page(chromium, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                            locale="it-IT", timezone_id="America/New_York") as page:
        yield page


async def snap(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"))


async def no_sideways_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px screen"


async def assert_contrast(page: Page) -> None:
    measured = await page.evaluate(CONTRAST_OF_BUTTONS)
    assert measured
    poor = [item for item in measured if item["ratio"] < WCAG_AA_TEXT]
    assert not poor, f"button text under {WCAG_AA_TEXT}:1: {poor}"


async def test_a_tenant_on_a_phone(phone: Page, sandbox: Sandbox):
    page = phone
    await open_as(page, sandbox, "giuseppe")
    await start_chat(page)
    await no_sideways_scroll(page)

    # The header stays one line: the bot's name, A± and the tools button side by side.
    header = await page.locator(".chat-header").bounding_box()
    name = await page.locator("#bot-name").bounding_box()
    line = await page.locator("#bot-name").evaluate("node => parseFloat(getComputedStyle(node).lineHeight)")
    assert name["height"] <= line * 1.2 and header["height"] <= 64, (name, header)
    await snap(page, "01-menu")

    # A± makes every text bigger, and again smaller.
    text = last_bot_message(page).locator(".text")
    before = await text.evaluate("node => parseFloat(getComputedStyle(node).fontSize)")
    await page.locator("#text-size").click()
    bigger = await text.evaluate("node => parseFloat(getComputedStyle(node).fontSize)")
    assert bigger > before
    await no_sideways_scroll(page)
    await snap(page, "02-large-text")
    await page.locator("#text-size").click()
    assert await text.evaluate("node => parseFloat(getComputedStyle(node).fontSize)") == before

    # Message times are Rome's (the bot's zone), not the browser's New York.
    assert await page.evaluate("timeOf(Date.UTC(2027, 2, 1, 7, 0) / 1000)") == "08:00"

    # Button text is readable: WCAG AA (4.5:1) for every visible button, the bot's and the page's.
    await assert_contrast(page)

    # The tools drawer opens over the chat and closes with its button, with Esc, and with a tap beside it.
    toggle = page.locator("#tools-toggle")
    tools = page.locator("#tools")
    for close in ("button", "escape", "outside"):
        await toggle.click()
        await expect(tools).to_be_visible()
        await expect(toggle).to_have_attribute("aria-expanded", "true")
        if close == "button":
            await snap(page, "03-tools-drawer")
            await page.locator("#tools-close").click()
        elif close == "escape":
            await page.keyboard.press("Escape")
        else:
            await page.mouse.click(20, PHONE["height"] // 2)  # the dimmed chat, left of the drawer
        await expect(tools).to_be_hidden()
        await expect(toggle).to_have_attribute("aria-expanded", "false")

    # A reply keyboard leaves the message box usable; the location button reads as the bot wrote it.
    await tap(page, "Spazi e servizi")
    await tap(page, "Trova il più vicino")
    location_button = page.locator("#reply-keyboard .reply-button").first
    await expect(location_button).to_have_text("📍 Invia la mia posizione")
    box = await page.locator("#composer-text").bounding_box()
    assert box["width"] >= 100, f"the message box is {box['width']} px wide"
    await no_sideways_scroll(page)
    await snap(page, "04-reply-keyboard")

    # The attach menu stays on the screen.
    await page.locator("#attach-button").click()
    menu = await page.locator("#attach-menu").bounding_box()
    assert menu["x"] >= 0 and menu["x"] + menu["width"] <= PHONE["width"], menu
    await snap(page, "05-attach-menu")
    await page.keyboard.press("Escape")


async def test_an_arabic_tenant_on_a_phone_sees_a_mirrored_chat(phone: Page, sandbox: Sandbox):
    page = phone
    await open_as(page, sandbox, "amal")
    await page.get_by_role("button", name="AVVIA").click()
    await expect(last_bot_message(page)).to_contain_text("العربية")
    message = last_bot_message(page)
    await expect(message).to_have_attribute("dir", "rtl")
    await message.locator(".inline-button").first.click()  # the notice accepted: the main menu
    await expect(last_bot_message(page)).to_contain_text("ماذا")

    # Like Telegram in Arabic: the bot's messages on the right, and each row of buttons read from the right.
    bubble = await last_bot_message(page).locator(".bubble").bounding_box()
    assert bubble["x"] + bubble["width"] >= PHONE["width"] - 24, bubble
    row = last_bot_message(page).locator(".keyboard-row").last
    first, second = [await button.bounding_box() for button in await row.locator(".inline-button").all()]
    assert first["x"] > second["x"], "the first button of a row is on the right in a right-to-left chat"
    await no_sideways_scroll(page)
    await assert_contrast(page)
    await snap(page, "06-arabic-menu")

    await last_bot_message(page).locator(".inline-button").nth(1).click()  # Book
    await expect(last_bot_message(page).locator(".inline-button").first).to_be_visible()
    space = last_bot_message(page).locator(".inline-button").nth(1)  # "Bruzzano · مركز Boccioni", from the right
    assert await space.evaluate("node => node.matches(':dir(rtl)')")
    await no_sideways_scroll(page)
    await snap(page, "07-arabic-book")
