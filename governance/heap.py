"""Giving freed memory back to the system between the steps of a big import.

A seed import's upload goes through the temporary storage (pickled, base64-encoded and read back
from the cache: several copies of a 20 MB file, each one large block) just before the file is
planned. glibc serves such blocks from its heap once an earlier one was freed (its mmap threshold
rises to the largest block freed), and keeps the pages of a freed block resident while later,
smaller allocations sit above it: at 100,000 rows the plan then stood on about 35 MB of memory the
process no longer used (bench/README.md, import). ``malloc_trim(0)`` hands every free page in the
heap back to the kernel; it costs a few milliseconds for a heap of a few hundred MB. Elsewhere
(not glibc) this does nothing.
"""

import ctypes
import ctypes.util
import functools
import sys


@functools.cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None


def release_free_memory() -> bool:
    """Return the heap's free pages to the system; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
