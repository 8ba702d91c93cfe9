"""Measuring how many bytes of memory a loaded model keeps alive.

The cache budgets in bytes, so it needs the *resident* size of a model, not the size of its
artifact on disk (a 2 MB file can unpack to 40 MB of trees). ``measure_footprint`` walks the
object graph once with :func:`gc.get_referents`, counting every object a single time by id.
Things a model shares with the rest of the process (modules, classes, functions, ``None``, small
ints) are not walked: counting them would charge one model for memory it does not own.

Memory the garbage collector cannot see is added from three places:

* numpy arrays: ``sys.getsizeof`` already includes the data buffer when the array owns it; a view
  counts only its header and its owner is walked instead, so the buffer is counted once;
* objects whose class defines ``native_bytes() -> int`` (runtimes wrapping onnxruntime sessions
  or LightGBM boosters, whose memory lives in C++) are asked for it;
* a small table of well-known extension types that hide their buffers (scikit-learn trees).
"""

from __future__ import annotations

import gc
import logging
import sys
import types
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

_SKIPPED_TYPES: tuple[type, ...] = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.CodeType,
    types.FrameType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
)
"""Shared by everything in the process; a model refers to them but does not own them."""

_SINGLETON_IDS = frozenset(id(o) for o in (None, True, False, Ellipsis, NotImplemented, (), ""))

_SMALL_INT_MIN, _SMALL_INT_MAX = -5, 256
"""CPython caches these ints once per process."""

NativeSizer = Callable[[object], int]


def _sklearn_tree_bytes(tree: object) -> int:
    """A fitted ``sklearn.tree._tree.Tree`` keeps its nodes and values in C arrays."""
    tree_module = sys.modules.get("sklearn.tree._tree")
    node_dtype = getattr(tree_module, "NODE_DTYPE", None)
    node_bytes = int(node_dtype.itemsize) if node_dtype is not None else 64
    capacity = int(getattr(tree, "capacity", 0))
    value_bytes = 8 * int(getattr(tree, "n_outputs", 1)) * int(getattr(tree, "max_n_classes", 1))
    return capacity * (node_bytes + value_bytes)


_NATIVE_SIZERS: dict[str, NativeSizer] = {
    "sklearn.tree._tree.Tree": _sklearn_tree_bytes,
}
"""Extension types whose buffers neither ``sys.getsizeof`` nor ``gc`` can see, by full name."""


def _call_native_bytes(obj: object) -> int:
    method = getattr(obj, "native_bytes", None)
    return int(method()) if callable(method) else 0


def _native_sizer_for(cls: type) -> NativeSizer | None:
    sizer = _NATIVE_SIZERS.get(f"{cls.__module__}.{cls.__qualname__}")
    if sizer is None and callable(getattr(cls, "native_bytes", None)):
        sizer = _call_native_bytes
    return sizer


def measure_footprint(obj: object) -> int:
    """The bytes of memory reachable from ``obj`` that it does not share with the process.

    Each object is counted once, however many references lead to it. This is an estimate: it
    cannot see allocator overhead or C memory of extension types that neither report it through
    ``__sizeof__`` nor appear in the native-size table or define ``native_bytes()``.
    """
    seen: set[int] = set(_SINGLETON_IDS)
    # Per call, not global: a module-level cache keyed by class would keep unloaded models'
    # classes alive. Classes repeat a lot within one model, so this saves most of the lookups.
    sizers: dict[type, NativeSizer | None] = {}
    total = 0
    stack: list[object] = [obj]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        cls = type(current)
        if cls is int and _SMALL_INT_MIN <= current <= _SMALL_INT_MAX:  # type: ignore[operator]
            continue
        if isinstance(current, _SKIPPED_TYPES):
            continue
        total += sys.getsizeof(current)
        if cls not in sizers:
            sizers[cls] = _native_sizer_for(cls)
        sizer = sizers[cls]
        if sizer is not None:
            try:
                total += sizer(current)
            except Exception:  # a broken size report must not break a model load
                logger.warning(
                    "could not size native memory of %s", cls.__qualname__, exc_info=True
                )
        if isinstance(current, np.ndarray):
            _push_array_referents(current, stack)
        else:
            stack.extend(gc.get_referents(current))
    return total


def _push_array_referents(array: NDArray[np.generic], stack: list[object]) -> None:
    # numpy does not take part in gc traversal, so owners and object elements are pushed here.
    if array.base is not None:
        stack.append(array.base)
    if array.dtype.hasobject:
        stack.extend(array.ravel(order="K").tolist())
