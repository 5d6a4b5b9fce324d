"""Freed memory handed back to the system between the steps of a big import (governance/heap.py)."""

import platform
import sys

from governance.heap import release_free_memory


def test_freed_pages_are_handed_back_where_the_c_library_is_glibc():
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    blocks = [bytearray(1 << 20) for _ in range(8)]  # something to free first
    del blocks
    assert release_free_memory() is glibc
