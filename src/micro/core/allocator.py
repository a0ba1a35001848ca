"""Keep the C allocator from handing freed render buffers back to the kernel.

A render allocates a few dozen arrays of 1–10 MB and frees them when it returns. glibc's
default policy (a dynamic mmap threshold and trimming the top of the heap above twice that)
returns much of that memory to the kernel between renders once long-lived cache entries
(OTFs, scene spectra) sit in the heap, so the next render page-faults its way back in: a
512² brightfield render measured 8.5 ms without faults and 15–20 ms with 3,000 of them.

Fixed thresholds keep freed blocks in the process for reuse. The cost is that the resident
size stays near its high-water mark (a render's temporaries, ~100 MB at 1024²) instead of
shrinking between requests. Only glibc has `mallopt`; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD_BYTES = 512 << 20
"""Free memory at the top of the heap above this is returned to the kernel."""
MMAP_THRESHOLD_BYTES = 32 << 20
"""Blocks at least this large get their own mapping (glibc's maximum for this setting)."""


@functools.cache
def keep_freed_memory() -> bool:
    """Apply the thresholds once per process; True if the allocator accepted them."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    return mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and ok
