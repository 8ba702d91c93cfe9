"""The one compiled part of Shoal: the in-memory limiter's buckets (``shoal.access._buckets``).

Everything else is in ``pyproject.toml``. The extension is optional: where it cannot be built
(no C compiler) the install goes on and the limiter runs the same rule in Python.
"""

import sys

from setuptools import Extension, setup

# Decisions must be bit for bit those of the Python rule: no fused multiply-adds.
FLAGS = [] if sys.platform == "win32" else ["-O2", "-ffp-contract=off"]

setup(
    ext_modules=[
        Extension(
            "shoal.access._buckets",
            sources=["src/shoal/access/_buckets.c"],
            extra_compile_args=FLAGS,
            optional=True,
        )
    ]
)
