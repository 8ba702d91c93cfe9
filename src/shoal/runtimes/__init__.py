"""Model runtimes: one module per model format behind the ``ModelRuntime`` protocol.

Importing this package imports no ML framework; the table imports a runtime on first use and
each runtime imports its framework inside its methods.
"""

from shoal.runtimes.base import LoadedModel, LoadOptions, ModelRuntime, Tensors
from shoal.runtimes.table import BUILTIN_RUNTIMES, ENTRY_POINT_GROUP, RuntimeTable
from shoal.runtimes.tensors import as_tensors, to_frame, to_matrix

__all__ = [
    "BUILTIN_RUNTIMES",
    "ENTRY_POINT_GROUP",
    "LoadOptions",
    "LoadedModel",
    "ModelRuntime",
    "RuntimeTable",
    "Tensors",
    "as_tensors",
    "to_frame",
    "to_matrix",
]
