"""`qcbot bench …`: benchmarks that print figures (never timed tests). Each is a module here with
`describe` (one line), `add_arguments(parser)` and `run(args)`; the module is imported only when chosen."""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = ("load", "scale", "booking", "broadcast")


def add_bench_command(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="benchmarks that print figures")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True)
    for name in BENCHMARKS:
        module = importlib.import_module(f"bot.bench.{name}")
        parser = bench_sub.add_parser(name, help=module.describe)
        module.add_arguments(parser)
        parser.set_defaults(func=module.run)
