"""`qcbot bench …`: benchmarks that print figures (never timed tests). Each is a module here with
`describe` (one line), `add_arguments(parser)` and `run(args)`; the module is imported only when chosen.

They live in the checkout, not in the shipped packages, and need the `[bench]` extra (psutil): importing this
package fails at once without it, so `qcbot bench` can say what to install before anything starts."""

from __future__ import annotations

import argparse
import importlib

import psutil  # noqa: F401  (the [bench] extra; checked here, not halfway through a run)

BENCHMARKS = ("load", "scale", "booking", "broadcast")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qcbot bench", description="benchmarks that print figures")
    bench_sub = parser.add_subparsers(dest="bench_command", required=True)
    for name in BENCHMARKS:
        module = importlib.import_module(f"tests.bench.{name}")
        bench = bench_sub.add_parser(name, help=module.describe)
        module.add_arguments(bench)
        bench.set_defaults(func=module.run)
    return parser
