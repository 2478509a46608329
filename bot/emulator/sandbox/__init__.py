"""`qcbot sandbox`: the bot in a browser, against the built-in Bot API emulator, with personas and no Telegram.

`bot.emulator.sandbox.server` has the server (`Sandbox`, `PERSONAS`); `bot.emulator.sandbox.cli` the command.
This package imports neither, so `qcbot --help` stays quick.
"""
