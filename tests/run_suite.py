"""The whole test suite, on SQLite and, where it can be had, PostgreSQL (what `make test` and CI run).

PostgreSQL comes from QC_TEST_POSTGRES_URL when set (CI starts a server and sets it); otherwise, when the server
binaries are installed, a private throwaway cluster is started in a temporary folder; otherwise the PostgreSQL
variants are skipped and this says so. pytest exiting 5 (no tests ran) is a failure here.

The tests run in parallel, one pytest-xdist worker per core (at least two, at most eight): most of the suite's time
is waiting (a `qcbot run` process starting, the bot answering over HTTP, PostgreSQL creating a database), so a
second worker fills it (docs/performance.md, "The suite's time"). Each worker has its own temporary folder, SQLite
and PostgreSQL template databases and ports; `-n 0` on the command line runs everything in this one process.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def start_private_cluster() -> tuple[str, Callable[[], None]] | None:
    bindir = _postgres_bindir()
    if bindir is None:
        return None
    folder = Path(tempfile.mkdtemp(prefix="qc-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root; use the postgres account Debian's package made
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, check=True)
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "qc", "--auth=trust", "-E", "UTF8"], **quiet)
    subprocess.run(
        [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
         f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300", "start"],
        **quiet,
    )

    def stop() -> None:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], **quiet)
        shutil.rmtree(folder, ignore_errors=True)

    return f"postgresql+asyncpg://qc@127.0.0.1:{port}/postgres", stop


def worker_count() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(max(cores, 2), 8)


def parallel_options(args: list[str]) -> list[str]:
    """One worker per core, unless the command line says how many (-n, --numprocesses) or asks for a single
    process (-p no:xdist). worksteal: a worker that runs out of tests takes from one still queued behind a long test."""
    if any(arg.startswith(("-n", "--numprocesses", "--dist")) or arg == "no:xdist" for arg in args):
        return []
    return ["-n", str(worker_count()), "--dist", "worksteal"]


def main() -> int:
    env = dict(os.environ)
    stop = None
    if env.get("QC_TEST_POSTGRES_URL"):
        print("PostgreSQL: using QC_TEST_POSTGRES_URL")
    else:
        try:
            started = start_private_cluster()
        except (subprocess.CalledProcessError, OSError) as exc:
            started = None
            print(f"PostgreSQL: could not start a private cluster ({exc}); PostgreSQL tests will be skipped")
        if started is None:
            print("PostgreSQL: not installed here, so the suite runs on SQLite only and SKIPS the PostgreSQL variants.\n"
                  "            (Debian: apt-get install postgresql; or set QC_TEST_POSTGRES_URL.)")
        else:
            env["QC_TEST_POSTGRES_URL"], stop = started
            print("PostgreSQL: started a private throwaway cluster for the tests")
    started_at = time.monotonic()
    try:
        # -rs: every skipped test is listed with its reason at the end (PostgreSQL, Chromium, fonts...).
        args = sys.argv[1:]
        command = [sys.executable, "-m", "pytest", "-rs", *parallel_options(args), *args]
        code = subprocess.call(command, cwd=ROOT, env=env)
    finally:
        if stop is not None:
            stop()
    print(f"suite finished in {time.monotonic() - started_at:.0f} s")
    if code == 5:
        print("pytest ran no tests: that is a failure")
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
