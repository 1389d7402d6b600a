"""Keep a long pass's memory flat: cap glibc's malloc arenas.

glibc gives each thread that allocates concurrently its own arena (up to 8 per core), and memory
freed in an arena stays with that arena. A pass runs ~20 threads (Prefect's, ingest's fetchers,
the sink, a thread per NLP batch, torch's intra-op threads), each holding freed pages the others
cannot reuse. Where the model runs in int8 on AVX2 kernels, whose scratch buffers come from
malloc, the process grew through the NLP stage: peak RSS 1,309 MiB at 50,000 articles against
1,062 MiB at 10,000 (1.23x). Capped at two arenas: 994 against 875 MiB (1.14x); in bf16 the
10,000 pass peaks ~100 MiB lower (830-841 against 931-961 MiB), at the same speed (pairs).
This is the MALLOC_ARENA_MAX=2 advice given for long-running multi-threaded services; a user's own
``MALLOC_ARENA_MAX`` is left in charge, and other C libraries (musl, macOS) are left alone."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_ARENA_MAX = -8  # glibc's mallopt parameter number
ARENAS = 2


def cap_arenas(arenas: int = ARENAS) -> bool:
    """Cap malloc arenas at ``arenas``; True when set. Call before any thread allocates (at the
    command's start): arenas that threads already hold stay."""
    if os.environ.get("MALLOC_ARENA_MAX") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False
