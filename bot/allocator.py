"""glibc's malloc in a serving process: large buffers mapped and unmapped, never carved out of the heap.

asyncio reads every socket with `recv(256 KiB)` (asyncio.selector_events: `max_size`) and shrinks the bytes object to
what arrived: one 256 KiB allocation per answer from Telegram or from PostgreSQL. glibc serves an allocation that big
with mmap only while its mmap threshold is at its start value, 128 KiB; but the threshold follows the size of every
mapped block freed (up to 32 MiB), and the bot's start-up frees some. From then on each receive buffer came from the
heap and was shrunk in place, and the small objects that filled the rest kept the next 256 KiB from fitting: the
heap grew with every few thousand reads while what it held stayed the same (~33 MB): ~3 MB (SQLite) and ~6 MB
(PostgreSQL: a read per statement) per 10,000 broadcast messages (docs/performance.md, "Broadcasts, third pass:
memory"). Both thresholds that glibc adjusts are fixed at their start values, which turns
the adjustment off: anything above 128 KiB is mapped (and unmapped when freed), and the heap gives back its top
once 128 KiB of it are free, so the top never holds room for a receive buffer either.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt's parameters (malloc.h) and glibc's start values.
M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES = -1, 128 * 1024  # free space at the heap's top beyond this is given back
M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES = -3, 128 * 1024  # bigger blocks are mapped, and unmapped when freed


def keep_large_buffers_out_of_the_heap() -> bool:
    """For a serving process (`qcbot run`, the benchmarks' bot). True when glibc took the setting; elsewhere (macOS,
    musl, whose mallopt does nothing) nothing changes and the answer is False."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
