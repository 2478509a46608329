"""bot/allocator.py: in a process that freed a big block (as the bot's start-up does), a receive buffer of asyncio's
size is still mapped and unmapped, not carved out of the heap; without the setting it is carved out. The periodic
round gives back the free pages inside the heap, after collecting the young generations' cyclic garbage."""

import asyncio
import gc
import platform
import subprocess
import sys
import weakref

import pytest

from bot.allocator import give_back_free_heap_pages

GLIBC_ONLY = pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"),
                                reason="glibc's mallopt only")

# A fresh interpreter: prints how many more blocks are mapped while a 256 KiB bytes object lives.
SCRIPT = """
import ctypes, sys
from bot.allocator import keep_large_buffers_out_of_the_heap
class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
mallinfo2 = ctypes.CDLL(None).mallinfo2
mallinfo2.restype = Mallinfo2
if sys.argv[1] == "set":
    assert keep_large_buffers_out_of_the_heap() is True
big = bytearray(8 * 1024 * 1024)  # mapped, then freed: glibc would now raise its thresholds past 8 MiB
del big
filler = [bytes(1000) for _ in range(1000)]  # freed into the heap's top: room for the next big block
del filler
before = mallinfo2().hblks
buffer = bytes(256 * 1024)  # what asyncio's recv() asks for
print(mallinfo2().hblks - before)
"""


def mapped_blocks_for_a_receive_buffer(setting: str) -> int:
    done = subprocess.run([sys.executable, "-c", SCRIPT, setting], capture_output=True, text=True, check=True)
    return int(done.stdout)


@GLIBC_ONLY
def test_a_receive_buffer_is_mapped_with_the_setting() -> None:
    assert mapped_blocks_for_a_receive_buffer("set") == 1


@GLIBC_ONLY
def test_without_the_setting_it_comes_from_the_heap() -> None:
    assert mapped_blocks_for_a_receive_buffer("unset") == 0


# A fresh interpreter: prints the RSS (MiB) given back by one round of the serving process's heap trim, after small
# blocks of mixed sizes left holes all over the heap (a sixth of them kept, so the heap's top cannot shrink).
TRIM_SCRIPT = """
import asyncio
from bot.allocator import give_back_free_heap_pages, keep_large_buffers_out_of_the_heap
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
keep_large_buffers_out_of_the_heap()
kept, holes = [], []
for number in range(120_000):
    (kept if number % 6 == 0 else holes).append(bytearray((600, 1200, 3000, 5000)[number % 4]))
del holes
async def one_round():
    trimmer = asyncio.create_task(give_back_free_heap_pages(every=0))
    await asyncio.sleep(0.2)
    trimmer.cancel()
before = rss()
asyncio.run(one_round())
print(round(before - rss()))
"""


@GLIBC_ONLY
def test_the_periodic_trim_gives_back_the_free_pages_inside_the_heap() -> None:
    done = subprocess.run([sys.executable, "-c", TRIM_SCRIPT], capture_output=True, text=True, check=True)
    assert int(done.stdout) > 100  # of the ~300 MiB of holes


async def test_the_periodic_round_collects_young_cyclic_garbage_first() -> None:
    """During a broadcast the collector's own threshold is reached once in minutes; the round does not wait for it."""
    class Node:
        pass

    was_enabled = gc.isenabled()
    gc.disable()  # only the round may collect
    try:
        node = Node()
        node.itself = node  # a cycle: reference counting alone never frees it
        gone = weakref.ref(node)
        del node
        trimmer = asyncio.create_task(give_back_free_heap_pages(every=0))
        await asyncio.sleep(0.05)
        trimmer.cancel()
        assert gone() is None
    finally:
        if was_enabled:
            gc.enable()
