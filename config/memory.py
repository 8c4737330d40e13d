"""glibc's malloc tuned for a server that handles answers of a few hundred kilobytes (embeddings in float).

By default glibc serves an allocation above 128 KB (or the size it has since adjusted to) from fresh pages of
its own mapping, and gives freed memory at the top of the heap back to the system once more than twice that is
free. Each buffer the size of such an answer (the body read, the answer written) then came as new pages: over a
hundred page faults a call, more or fewer from one process to the next as glibc adjusted (README, Benchmarks).
Here allocations up to 4 MB come from the heap and up to 8 MB of freed memory stays in each process for the
next call. Other C libraries are left as they are.
"""

import ctypes
import ctypes.util
import platform

M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 4 << 20
TRIM_THRESHOLD = 8 << 20


def keep_freed_memory():
    """Apply the thresholds to this process (and the processes it forks later); whether it could."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False
