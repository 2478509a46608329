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

What the heap still did: small objects of different lifetimes left holes between them, and the holes' pages stayed
in RSS. Over a broadcast that was 1-2 MB per 10,000 messages for the first ~15,000 (bytes in use flat at ~34 MB in a
saw-tooth, bytes free inside the heap 2.8 -> 5 MB), then level. Two things, every ten seconds
(`give_back_free_heap_pages`): the young generations' cyclic garbage is collected, so it no longer piles up for
minutes between the collector's own runs and is freed in bulk under newer objects (the saw-tooth); then
`malloc_trim(0)` gives back every whole free page inside the heap, not only its top (docs/performance.md,
"Broadcasts, fourth pass" and "fifth pass").
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import sys
import time
from collections.abc import Callable

# mallopt's parameters (malloc.h) and glibc's start values.
M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES = -1, 128 * 1024  # free space at the heap's top beyond this is given back
M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES = -3, 128 * 1024  # bigger blocks are mapped, and unmapped when freed
# How often free pages inside the heap go back to the system: a trim walks the free lists (0.1-0.5 ms with the bot's
# ~40 MB heap, on the loop's thread), so every ten seconds costs nothing an answer would notice; the holes left by
# the collector's saw-tooth (cyclic garbage freed in bulk) go back before the next one piles on top of them.
HEAP_TRIM_SECONDS = 10.0

log = logging.getLogger(__name__)


def keep_large_buffers_out_of_the_heap() -> bool:
    """For a serving process (`qcbot run`, the benchmarks' bot). True when glibc took the setting; elsewhere (macOS,
    musl, whose mallopt does nothing) nothing changes and the answer is False."""
    mallopt = _glibc_function("mallopt", (ctypes.c_int, ctypes.c_int))
    if mallopt is None:
        return False
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1


async def give_back_free_heap_pages(every: float = HEAP_TRIM_SECONDS) -> None:
    """For a serving process, until cancelled: every `every` seconds, the cyclic garbage of the young generations is
    collected, then the whole free pages inside glibc's heap go back to the system (`malloc_trim(0)`). Elsewhere
    (macOS, musl) only the collection runs.

    Why collect here: the serving process collects young objects after 20,000 new ones (bot/runners.py), which
    under load is every few updates but during a broadcast, ~70 net new objects a second, once in ~5 minutes. Its
    cyclic garbage (SQLAlchemy's statements, ~1 object a message) piled up to ~2 MB between collections, was freed
    in bulk and left holes all over the heap, under what had been allocated meanwhile. Collected every ten
    seconds it is a few kilobytes, and the memory it frees is taken again at once."""
    malloc_trim = _glibc_function("malloc_trim", (ctypes.c_size_t,))
    while True:
        await asyncio.sleep(every)
        began = time.perf_counter()
        gc.collect(1)  # the two young generations: at most a few tens of thousands of objects, ~1 ms
        if malloc_trim is not None:
            malloc_trim(0)
        log.debug("young garbage collected and heap trimmed in %.1f ms", (time.perf_counter() - began) * 1000)


def _glibc_function(name: str, argtypes: tuple[type, ...]) -> Callable[..., int] | None:
    """glibc's `name` (returning an int), or None on another platform or C library."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function
