"""Measures native (C/C++) heap allocated by a load: glibc's in-use bytes before and after.

Python's object walk cannot see memory that onnxruntime or LightGBM allocate in C++, and a
server budgeting thousands of models by file size would undercount: an onnxruntime session of a
1 KB logistic regression holds ~100 KB, a 50-tree forest ~1 MB. So session creation runs under a
process-wide lock while glibc's ``mallinfo2`` in-use counters are read around it; the difference
is the model's native footprint. Other threads may allocate meanwhile, so the figure is an
estimate with small noise, not a ledger; where ``mallinfo2`` is missing (non-glibc, glibc <
2.33) the caller's fallback estimate is used.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _mallinfo2() -> Callable[[], _MallInfo2] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        function = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    function.restype = _MallInfo2
    return function


_MALLINFO2 = _mallinfo2()
_LOCK = threading.Lock()


def heap_in_use() -> int | None:
    """Bytes glibc malloc has handed out and not taken back (heap + mmapped chunks)."""
    if _MALLINFO2 is None:
        return None
    info = _MALLINFO2()
    return int(info.uordblks) + int(info.hblkhd)


def measure_native(create: Callable[[], T], fallback: int) -> tuple[T, int]:
    """Run ``create`` alone among measured loads; return its result and the heap it kept."""
    with _LOCK:
        before = heap_in_use()
        result = create()
        after = heap_in_use()
    if before is None or after is None:
        return result, fallback
    return result, max(after - before, 0)


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        function: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return function


_MALLOC_TRIM = _malloc_trim()


def release_free_heap() -> bool:
    """Hand the heap memory freed models leave behind back to the operating system.

    glibc keeps freed memory in its arenas (one per thread that loaded models) for reuse, so
    after thousands of loads and evictions a process's RSS drifts well above what its live
    models hold. ``malloc_trim`` returns the free pages of every arena (it runs in C, without
    the interpreter lock). False where glibc is not the allocator.
    """
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True
