"""The ``pickle`` format: joblib/pickle files, loaded only on an explicit opt-in.

Unpickling runs whatever code the file names, so this runtime is never chosen automatically
for an object, and ``load`` refuses unless ``LoadOptions.allow_pickle`` is set.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

from shoal.errors import RuntimeLoadError, UnsupportedModelError, UntrustedArtifactError
from shoal.runtimes.base import LoadedModel, LoadOptions
from shoal.runtimes.estimators import EstimatorModel

MODEL_FILE = "model.joblib"
# The first bytes of a pickle (protocol 2+) or of joblib's compressed containers. Checking them
# is the only validation possible without unpickling, which would run the file's code.
_MAGIC = (
    b"\x80",  # pickle protocol >= 2
    b"\x78",  # zlib
    b"\x1f\x8b",  # gzip
    b"BZh",  # bz2
    b"\xfd7zXZ\x00",  # xz
    b"\x5d\x00\x00",  # lzma
    b"\x04\x22\x4d\x18",  # lz4
)


class PickleRuntime:
    """Save with joblib; load only when pickle is explicitly allowed."""

    name = "pickle"
    file_suffixes: tuple[str, ...] = (".pkl", ".pickle", ".joblib")

    def can_save(self, obj: object) -> bool:
        # joblib can try almost anything; the table never picks pickle unless asked by name.
        return not isinstance(obj, type | ModuleType)

    def save(self, obj: object, dest: Path) -> None:
        import joblib

        try:
            joblib.dump(obj, dest / MODEL_FILE)
        except Exception as exc:
            raise UnsupportedModelError(
                f"pickle: cannot pickle a {type(obj).__name__}: {exc}"
            ) from exc

    def adopt(self, source: Path, dest: Path) -> None:
        if not source.is_file():
            raise UnsupportedModelError(f"pickle: {source} is not a file")
        with source.open("rb") as handle:
            head = handle.read(8)
        if not head.startswith(_MAGIC):
            raise UnsupportedModelError(
                f"pickle: {source} is not a pickle or joblib file (unrecognised first bytes)"
            )
        shutil.copyfile(source, dest / MODEL_FILE)

    def load(self, path: Path, options: LoadOptions) -> LoadedModel:
        if not options.allow_pickle:
            raise UntrustedArtifactError(
                f"pickle: refusing to load {path}: unpickling runs arbitrary code from the file. "
                "Load it only if you trust its author, by opting in with trust=True (or "
                "LoadOptions(allow_pickle=True)) or by setting SHOAL_ALLOW_PICKLE=1"
            )
        import joblib

        file = path / MODEL_FILE
        try:
            obj = joblib.load(file)
        except Exception as exc:
            raise RuntimeLoadError(f"pickle: cannot load {file}: {exc}") from exc
        try:
            return EstimatorModel(obj, self.name)
        except UnsupportedModelError as exc:
            raise RuntimeLoadError(f"pickle: {file}: {exc}") from exc
