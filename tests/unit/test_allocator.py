"""A serving process keeps large buffers out of glibc's arenas (sam3_core.model.allocator; the measured effect on idle
memory: tests/tools/test_memory.py). Checked in a fresh interpreter: in a long test process, free chunks left in the
arenas by earlier tests could serve the buffer whatever the threshold."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = """
import ctypes, sys
import numpy as np
from sam3_core.model.allocator import configure_allocator

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "configured" and not configure_allocator():
    sys.exit(3)  # not glibc
size = 6 * 1024 * 1024  # under glibc's 32 MiB cap: by default the first free raises the threshold above it
for _ in range(2):
    before = libc.mallinfo2().hblkhd
    buffer = np.ones(size, dtype=np.uint8)
    if libc.mallinfo2().hblkhd - before < size:
        sys.exit(1)  # served from an arena
    del buffer
"""


def run(mode: str) -> int:
    return subprocess.run([sys.executable, "-c", CHECK, mode], capture_output=True, timeout=120).returncode


def test_a_freed_large_buffer_does_not_send_the_next_one_to_the_arenas():
    configured = run("configured")
    if configured == 3:
        pytest.skip("not glibc")
    assert configured == 0, "the second 6 MB buffer came from an arena"
    assert run("default") == 1, "without the fixed threshold the second buffer comes from an arena (control)"
