"""A serving process keeps large buffers out of glibc's arenas (sam3_core.allocator; the measured effect on idle
memory: docs/RELIABILITY.md and tests/test_memory.py)."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from sam3_core.allocator import configure_allocator


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def mmapped_bytes() -> int:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2().hblkhd


def test_a_freed_large_buffer_does_not_send_the_next_one_to_the_arenas():
    if not configure_allocator():
        pytest.skip("not glibc")
    size = 6 * 1024 * 1024  # under glibc's 32 MiB cap: by default the first free raises the threshold above it
    for _ in range(2):
        before = mmapped_bytes()
        buffer = np.ones(size, dtype=np.uint8)
        assert mmapped_bytes() - before >= size  # its own mapping, returned to the system by free
        del buffer
