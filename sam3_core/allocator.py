"""The C allocator of a serving process: buffers of a request go back to the system when the request frees them.

A request on a large image allocates full-size buffers of tens of MB (the decoded image, one mask per object,
its PNG and polygon) from many threads (the server's worker threads, the encoder pool, torch's). glibc's malloc
serves an allocation of 128 KiB or more with its own ``mmap`` (returned to the system by ``free``), but raises
that threshold to the size of each such block freed, up to 32 MiB: after the first request, 10-32 MB buffers come
from the per-thread arenas instead, where freed space stays in the process and fragments, so idle RSS grows with
every round of concurrent large requests (docs/RELIABILITY.md, "Memory under load": +340 MB per 8 concurrent
12 MP requests, without levelling off). A fixed threshold keeps every large buffer in its own mapping; the
arenas then hold small blocks only.

Effective on glibc (Linux); elsewhere (musl, macOS) ``configure_allocator`` does nothing and says so.
"""

from __future__ import annotations

import ctypes
import logging

LOG = logging.getLogger("sam3_core")
M_MMAP_THRESHOLD = -3  # mallopt parameter numbers, from glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value, now fixed


def configure_allocator() -> bool:
    """Fix glibc's mmap threshold for this process (idempotent); ``False`` where the C library is not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        LOG.info("C allocator: not glibc, left as it is")
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1:
        LOG.warning("C allocator: mallopt(M_MMAP_THRESHOLD) was refused; idle memory may grow under load")
        return False
    return True
