"""The benchmarks run end to end on a tiny scale and print their figures (no timing is asserted: figures are for
people to read, and this machine may be busy). They are tests/bench/ in a checkout, with the [bench] extra."""

from __future__ import annotations

import sys

import pytest

from bot.cli import BENCH_MISSING, main


def test_bench_without_its_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    for name in [name for name in sys.modules if name == "tests.bench" or name.startswith("tests.bench.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psutil", None)  # as if the [bench] extra were not installed
    with pytest.raises(SystemExit) as exited:
        main(["bench", "load"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == BENCH_MISSING + "\n"


def test_bench_load_prints_figures_for_the_product_and_a_reference_bot(capsys: pytest.CaptureFixture[str]) -> None:
    main(["bench", "load", "--tenants", "3", "--seconds", "1.5", "--mode", "polling",
          "--bots", "product,product-no-inbox,bare-aiohttp"])
    printed = capsys.readouterr().out
    for expected in ("replies/s", "p99", "CPU s/1k upd", "peak RSS", "product / polling", "bare-aiohttp / polling",
                     "product / bare-aiohttp", "product / product-no-inbox (the inbox's cost)", "content reload"):
        assert expected in printed, f"{expected!r} missing from:\n{printed}"


def test_bench_scale_prints_screen_times_rss_and_reload(capsys: pytest.CaptureFixture[str]) -> None:
    main(["bench", "scale", "--users", "40", "--bookings", "300", "--tickets", "60", "--backend", "sqlite",
          "--samples", "2", "--emulator-samples", "2", "--crawl", "15"])
    printed = capsys.readouterr().out
    for expected in ("seeded 40 users", "my bookings", "my reports", "agenda", "server p99", "via emulator p99",
                     "bot RSS after", "periodic jobs", "ticket-escalations", "9 spaces × 200 services",
                     "time bank history (busy member)", "timebank-digests"):
        assert expected in printed, f"{expected!r} missing from:\n{printed}"


def test_bench_load_task_mix_prints_latency_per_action(capsys: pytest.CaptureFixture[str]) -> None:
    # No warm-up: the notice's CONSENT is each tenant's first task.
    main(["bench", "load", "--tenants", "3", "--seconds", "2", "--warmup", "0", "--mode", "webhook", "--mix", "tasks",
          "--bots", "product"])
    printed = capsys.readouterr().out
    for expected in ("the tasks mix", "latency per action", "action", "p95", "note only", "no reply", "CONSENT"):
        assert expected in printed, f"{expected!r} missing from:\n{printed}"


def test_the_stolen_share_is_the_steal_column_of_the_time_spent():
    from tests.bench.load import _machine_cpu_times, _stolen_share

    before = [100, 0, 50, 800, 0, 0, 0, 50]  # user nice system idle iowait irq softirq steal
    after = [200, 0, 100, 1500, 0, 0, 0, 150]
    assert _stolen_share(before, after) == 100 / 950
    assert _stolen_share(before, None) is None and _stolen_share(before, before) is None
    now = _machine_cpu_times()
    assert now is None or (len(now) == 8 and all(value >= 0 for value in now))


async def test_a_press_answered_only_by_a_note_is_told_from_one_never_answered(monkeypatch: pytest.MonkeyPatch):
    """A toast over the same screen (e.g. "this slot has just filled" over the same list of times) is the bot's
    answer; the bench counts it apart from a press nobody answered."""
    import asyncio
    from types import SimpleNamespace

    from tests.bench import load

    monkeypatch.setattr(load, "REPLY_TIMEOUT", 0.05)
    answers: dict[str, dict] = {}
    presses = iter(["q1", "q2"])
    emu = SimpleNamespace(
        last_bot_message=lambda user_id: None, callback_answers=answers,
        press_button=lambda user_id, message_id, data: next(presses),
        state=SimpleNamespace(wait_for_chat_change=lambda chat_id, timeout: asyncio.sleep(timeout)))
    chat = load.Chat(emu, 7)
    answers["q1"] = {"text": "Quest'orario si è appena riempito."}
    assert await chat.press(1, "1|wj") is None and chat.note_only
    answers["q2"] = {"text": ""}  # answered without a word, and nothing shown: no reply
    assert await chat.press(1, "1|wj") is None and not chat.note_only
