"""The C allocator of a serving process: buffers of a request go back to the system when the request frees them.

A request on a large image allocates full-size buffers of MBs to tens of MB (the decoded image, its copies for
hashing and preprocessing, PIL's 16 MB blocks, OpenCV's contour and PNG buffers) from many threads (the server's
worker threads, the encoder pool, torch's). glibc's malloc serves an allocation of 128 KiB or more with its own
``mmap``, returned to the system by ``free``, but raises that threshold to the size of each such block freed, up
to 32 MiB: after the first large request, those buffers come from the per-thread arenas instead, where freed
space stays in the process and fragments. Measured (docs/RELIABILITY.md, "Memory under load"): idle RSS grew by
about 340 MB per round of 8 concurrent 12 MP requests and did not level off; with the threshold fixed at glibc's
own starting value it stays within 15 MB of where it was after the first round. The arenas then hold small
blocks only, so their number (8 per core) needs no limit, and ``malloc_trim`` finds little to return (10 MB).

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
