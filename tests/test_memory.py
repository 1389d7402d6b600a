"""The command caps glibc's malloc arenas (sinoscope/core/memory.py): threads that allocate at the
same time share two heaps instead of taking one each. Counted with glibc's own ``malloc_info``
in a fresh interpreter, against the same threads without the cap."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's")

HEAPS = """
import ctypes, tempfile, threading
{setup}
barrier = threading.Barrier(8)
def work():
    barrier.wait()  # all eight alive and allocating at once: each thread's first malloc takes an arena of its own, up to the cap
    keep = [bytearray(1000) for _ in range(2000)]  # over pymalloc's 512 bytes: straight to malloc
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile(suffix=".xml") as f:
    stream = libc.fopen(f.name.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(stream))
    libc.fclose(ctypes.c_void_p(stream))
    print(open(f.name).read().count("<heap nr="))
"""


def heaps(setup: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run(
        [sys.executable, "-c", HEAPS.format(setup=setup)], capture_output=True, text=True, env=env, check=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def test_the_command_caps_malloc_arenas_at_two():
    uncapped = heaps("")
    assert uncapped > 2, f"without the cap, eight threads allocating at once used {uncapped} heaps"
    assert heaps("import sinoscope.cli") <= 2


def test_a_users_malloc_arena_max_is_left_in_charge(monkeypatch):
    from sinoscope.core.memory import cap_arenas

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert cap_arenas() is False
