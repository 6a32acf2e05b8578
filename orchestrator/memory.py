"""Hand freed heap back to the operating system after a large burst of garbage.

Parsing a history sync (one event can be tens of megabytes of JSON) and turning 100,000
messages into rows leave hundreds of megabytes freed but still held by the C allocator: glibc
returns heap to the system only from its top, and only when asked. Measured in-process, asking
(`malloc_trim`) gives back ~575 bytes per message held after a 100,000-message sync. Where the
C library has no malloc_trim (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

LARGE_BATCH = 10_000  # rows written at once after which the heap is worth trimming


def _find_malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_MALLOC_TRIM = _find_malloc_trim()


def release_free_memory() -> bool:
    """Return what the allocator holds free to the system; False where that is not possible.
    The call releases the GIL (ctypes), so it can run in a worker thread."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True
