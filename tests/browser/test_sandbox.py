"""The sandbox page in headless Chromium: people use the bot the way a newcomer or an editor would, by clicking.

Screenshots of each step go to test-artifacts/sandbox/. Taps are found by label; each step waits for the screen it
expects, so nothing sleeps.
"""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Page, expect

from bot.emulator.sandbox.server import Sandbox
from tests.browser.conftest import ARTIFACTS
from tests.conftest import SAMPLE_CONTENT

pytestmark = pytest.mark.browser
expect.set_options(timeout=10_000)


def photo_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 120, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


def last_bot_message(page: Page):  # type: ignore[no-untyped-def]
    return page.locator(".message.incoming").last


def bot_buttons(page: Page):  # type: ignore[no-untyped-def]
    return last_bot_message(page).locator(".inline-button")


async def open_as(page: Page, sandbox: Sandbox, persona: str) -> None:
    await page.goto(f"{sandbox.url}#{persona}")
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")


async def switch_to(page: Page, persona: str) -> None:
    await page.locator(f'[data-persona="{persona}"]').click()
    await expect(page.locator(f'[data-persona="{persona}"]')).to_have_attribute("aria-current", "true")


async def tap(page: Page, label: str) -> None:
    """Tap the newest inline button showing ``label`` (like a thumb on the latest screen)."""
    await page.locator(".message.incoming .inline-button", has_text=label).last.click()


async def say(page: Page, text: str) -> None:
    await page.locator("#composer-text").fill(text)
    await page.locator("#composer-text").press("Enter")


async def start_chat(page: Page) -> None:
    await page.get_by_role("button", name="AVVIA").click()
    await expect(last_bot_message(page)).to_contain_text("Privacy")
    await tap(page, "Ho capito")
    await expect(last_bot_message(page)).to_contain_text("Cosa vuoi fare?")


async def snap(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def send_photo_from_disk(page: Page) -> None:
    await page.locator("#attach-button").click()
    async with page.expect_file_chooser() as chooser:
        await page.locator("#attach-photo").click()
    await (await chooser.value).set_files(files=[{"name": "guasto.jpg", "mimeType": "image/jpeg", "buffer": photo_bytes()}])


async def test_a_newcomer_tries_the_bot_in_the_browser(browser_page: Page, sandbox: Sandbox):
    page = browser_page
    await open_as(page, sandbox, "giuseppe")

    # The commands menu comes from what the bot set for Giuseppe's language.
    await page.locator("#composer-text").fill("/")
    await expect(page.locator("#command-menu")).to_contain_text("/language")
    await page.locator("#command-menu .command", has_text="/start").click()
    await expect(last_bot_message(page)).to_contain_text("Privacy")
    await snap(page, "01-welcome")

    # Pressing a button edits the message in place, as in Telegram.
    await tap(page, "Ho capito")
    await expect(last_bot_message(page)).to_contain_text("Cosa vuoi fare?")
    await expect(page.locator(".message.incoming")).to_have_count(1)
    await expect(last_bot_message(page).locator(".meta")).to_contain_text("modificato")

    # Switching to Arabic: the callback answer is a toast; Arabic labels run right to left.
    await tap(page, "🌐")
    await tap(page, "العربية")
    await expect(page.locator("#toast")).to_contain_text("العربية")
    await tap(page, "🌐")
    arabic = page.locator(".message.incoming .inline-button", has_text="العربية").last
    assert await arabic.evaluate("node => getComputedStyle(node).direction") == "rtl"
    await snap(page, "02-languages-after-arabic")
    await tap(page, "Italiano")
    await expect(page.locator("#toast")).to_contain_text("Italiano")

    # Browse to a space and open one of its services.
    await tap(page, "Spazi e servizi")
    await expect(last_bot_message(page)).to_contain_text("per quartiere")
    await bot_buttons(page).first.click()
    await expect(last_bot_message(page)).to_contain_text("Oggi")
    service = (await bot_buttons(page).first.inner_text()).strip()
    await bot_buttons(page).first.click()
    await expect(last_bot_message(page).locator(".text")).to_contain_text(service)
    await snap(page, "03-service")

    # Share a location through the bot's reply keyboard: the page offers the estates.
    await tap(page, "Menu")
    await tap(page, "Spazi e servizi")
    await tap(page, "Trova il più vicino")
    await expect(page.locator("#reply-keyboard")).to_be_visible()
    await page.locator("#reply-keyboard .reply-button", has_text="Invia la mia posizione").click()
    await expect(page.locator("#location-dialog")).to_be_visible()
    await page.locator("#estate-list .estate").first.click()
    await expect(page.locator(".message.outgoing .place")).to_be_visible()
    await expect(last_bot_message(page)).to_contain_text("più vicini a te")
    await expect(bot_buttons(page).first).to_have_text(re.compile(r"\d\s?(m|km)$"))
    await expect(page.locator("#reply-keyboard")).to_be_hidden()  # a one-time keyboard goes once used
    await snap(page, "04-nearest")

    # A photo from disk, and a voice note from the built-in sample.
    await send_photo_from_disk(page)
    await expect(last_bot_message(page)).to_contain_text("Ho ricevuto una foto")
    await page.wait_for_function("document.querySelector('.message.outgoing img.photo')?.naturalWidth > 0")
    await page.locator("#attach-button").click()
    await page.locator("#attach-voice").click()
    await page.locator("#voice-sample").click()
    await expect(page.locator(".message.outgoing .voice")).to_be_visible()
    await expect(last_bot_message(page)).to_contain_text("vocale")
    await snap(page, "05-photo-and-voice")

    # Another persona has another chat; Amal's Telegram is in Arabic.
    await switch_to(page, "amal")
    await expect(page.locator(".message")).to_have_count(0)
    await page.get_by_role("button", name="AVVIA").click()
    await expect(last_bot_message(page)).to_contain_text("العربية")
    await snap(page, "06-amal")
    await switch_to(page, "giuseppe")
    await expect(page.locator(".message.outgoing img.photo")).to_be_visible()


async def test_a_tenant_books_and_reports_and_the_custodian_takes_charge_live(browser_page: Page, sandbox: Sandbox):
    page = browser_page
    await open_as(page, sandbox, "giuseppe")
    await start_chat(page)

    # Book the first free slot of the first bookable service.
    await tap(page, "Prenota")
    await expect(last_bot_message(page)).to_contain_text("In quale spazio?")
    await bot_buttons(page).nth(1).click()  # the first is "Le mie prenotazioni"
    await expect(last_bot_message(page)).to_contain_text("cosa vuoi prenotare?")
    await bot_buttons(page).first.click()
    await expect(last_bot_message(page)).to_contain_text("Scegli il giorno")
    await bot_buttons(page).nth(1).click()  # the first day (the first button is "first free time")
    await expect(last_bot_message(page)).to_contain_text("Scegli l'orario")
    await bot_buttons(page).first.click()
    await expect(last_bot_message(page)).to_contain_text(re.compile("Controlla e conferma|Scrivi il tuo numero"))
    if "Scrivi il tuo numero" in await last_bot_message(page).inner_text():
        await say(page, "333 123 4567")
        await expect(last_bot_message(page)).to_contain_text("Controlla e conferma")
    await tap(page, "Conferma la prenotazione")
    await expect(last_bot_message(page)).to_contain_text("Prenotazione confermata")
    await snap(page, "07-booked")

    # Report a leak in the custodian's estate, with a photo.
    estate = next(iter(sandbox.runtime.content.estates.values()))
    await tap(page, "Menu")
    await tap(page, "Segnala un problema")
    await tap(page, "Perdita d'acqua")
    await expect(last_bot_message(page)).to_contain_text("Dove?")
    await tap(page, estate.name)
    await expect(last_bot_message(page)).to_contain_text("Quale palazzo")
    await bot_buttons(page).first.click()
    await expect(last_bot_message(page)).to_contain_text("A che piano?")
    await tap(page, "3")
    await tap(page, "Nel mio appartamento")
    await expect(last_bot_message(page)).to_contain_text("numero dell'appartamento")
    await say(page, "int. 12")
    await expect(last_bot_message(page)).to_contain_text("Domanda 1 di")
    questions = int(re.search(r"Domanda 1 di (\d+)", await last_bot_message(page).inner_text()).group(1))
    for number in range(2, questions + 1):
        await tap(page, "Non so")
        await expect(last_bot_message(page)).to_contain_text(f"Domanda {number} di {questions}")
    await tap(page, "Non so")
    await expect(last_bot_message(page)).to_contain_text("Descrivi il problema")
    await say(page, "Scende acqua dal soffitto del bagno")
    await expect(last_bot_message(page)).to_contain_text("manda fino a")
    await send_photo_from_disk(page)
    await expect(last_bot_message(page)).to_contain_text("Foto 1 di")
    await tap(page, "Avanti")
    await expect(last_bot_message(page)).to_contain_text("Controlla la segnalazione")
    await tap(page, "Invia la segnalazione")
    await expect(last_bot_message(page)).to_contain_text("Segnalazione inviata")
    code = re.search(r"QC-\d{4}-\d{6}", await last_bot_message(page).inner_text()).group()

    # The custodian's alert arrives live: Carla's unread badge lights up while Giuseppe's chat is open.
    await expect(page.locator('[data-persona="carla"] .unread')).to_be_visible()
    await switch_to(page, "carla")
    alert = page.locator(".message.incoming", has_text=code).last
    await expect(alert).to_contain_text("Segnalazione")
    await expect(page.locator(".message.incoming img.photo")).to_be_visible()  # the tenant's photo comes first
    await snap(page, "08-custodian-alert")
    await alert.locator(".inline-button", has_text="Prendo in carico").click()
    await expect(page.locator("#toast")).to_contain_text("presa in carico")
    await expect(alert).to_contain_text("Presa in carico")

    # Back to Giuseppe: the notification is there.
    await switch_to(page, "giuseppe")
    await expect(last_bot_message(page)).to_contain_text("presa in carico dal custode")
    await expect(last_bot_message(page)).to_contain_text(code)
    await snap(page, "09-tenant-notified")


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    """A draft copy of the sample content that the editor's test breaks and mends."""
    folder = tmp_path / "draft-content"
    shutil.copytree(SAMPLE_CONTENT, folder)
    return folder


async def test_an_editor_reloads_a_draft_and_sees_errors_and_refusals(browser_page: Page, sandbox: Sandbox, content_dir: Path):
    page = browser_page
    await open_as(page, sandbox, "elena")
    await expect(last_bot_message(page)).to_contain_text("Redazione contenuti")  # the role came from an invite

    estates = content_dir / "estates.yaml"
    original = estates.read_text(encoding="utf-8")
    estates.write_text(original.replace("lat: 45.", "lat: 95.", 1), encoding="utf-8")
    await page.locator("#reload-button").click()
    await expect(page.locator("#reload-result")).to_contain_text("il bot continua con la versione di prima")
    await expect(page.locator("#reload-result .problems li").first).to_contain_text(re.compile(r"estates\.yaml:\d+: "))
    await snap(page, "10-reload-errors")

    estates.write_text(original, encoding="utf-8")
    await page.locator("#reload-button").click()
    await expect(page.locator("#reload-result")).to_contain_text("Contenuti ricaricati")

    # What Telegram refuses shows up in the panel, live (here a flood limit, which the bot waits out).
    sandbox.emulator.inject_fault("sendMessage", 429, retry_after=1)
    await say(page, "/help")
    await expect(page.locator("#refusals .refusal")).to_have_count(1)
    await expect(page.locator("#refusals .refusal").first).to_contain_text("sendMessage · 429 · Elena")
    await expect(last_bot_message(page)).to_contain_text("Aiuto")  # sent again once the limit passed
    await expect(page.locator("#refusal-count")).to_have_text("1")


async def test_bot_html_becomes_whitelisted_nodes_never_markup(browser_page: Page, sandbox: Sandbox):
    page = browser_page
    await open_as(page, sandbox, "giuseppe")
    rendered = await page.evaluate(
        """source => {
            const box = document.createElement("div");
            box.append(renderTelegramHtml(source));
            return {
                tags: [...box.querySelectorAll("*")].map(node => node.tagName.toLowerCase()),
                hrefs: [...box.querySelectorAll("a")].map(node => node.getAttribute("href")),
                text: box.textContent,
            };
        }""",
        '<b>Orari</b> <i>oggi</i> &lt;chiuso&gt; <a href="javascript:alert(1)">x</a> <a href="https://example.org/a">'
        'sito</a> <tg-spoiler>s</tg-spoiler> <code>QC-1</code> <blockquote expandable>q</blockquote>'
        ' <img src=x onerror=alert(1)> https://example.org/b',
    )
    assert rendered["tags"] == ["strong", "em", "span", "a", "span", "code", "blockquote", "a"]
    assert rendered["hrefs"] == ["https://example.org/a", "https://example.org/b"]
    assert "<chiuso>" in rendered["text"] and "<img src=x onerror=alert(1)>" in rendered["text"]
