"""`qcbot run` loads the runtime only: not the benchmarks (tests/bench/, a checkout's tool), not psutil (their
extra), not the Bot API emulator or the sandbox's server (bot/emulator/, for trying the bot and for tests).

Checked in a fresh interpreter, as `qcbot run` starts: the command line (every subcommand registered), then what
`cmd_run` imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LOADED_BY_QCBOT_RUN = """
import json, sys
import bot.cli
bot.cli.build_parser()
import bot.runners
print(json.dumps(sorted(sys.modules)))
"""
# `qcbot sandbox` is registered by every command: its package shells and its argument definitions only.
SANDBOX_REGISTRATION = {"bot.emulator", "bot.emulator.sandbox", "bot.emulator.sandbox.cli"}


def modules_loaded_by_qcbot_run() -> set[str]:
    result = subprocess.run([sys.executable, "-c", LOADED_BY_QCBOT_RUN], cwd=ROOT, capture_output=True, text=True,
                            check=True)
    return set(json.loads(result.stdout))


def test_qcbot_run_imports_neither_benchmarks_nor_psutil_nor_the_emulator() -> None:
    loaded = modules_loaded_by_qcbot_run()
    assert "bot.runners" in loaded and "bot.app" in loaded  # the check ran what it says
    unwanted = sorted(
        name for name in loaded
        if name.split(".")[0] in ("psutil", "tests")
        or (name.startswith("bot.emulator") and name not in SANDBOX_REGISTRATION)
    )
    assert unwanted == []
