"""The ``sklearn`` format: scikit-learn estimators saved with skops, loaded only from trusted types.

skops records every type an artifact needs; loading builds only types that are trusted: skops'
own allow-list, classes from sklearn/numpy/scipy, and those the caller names explicitly. Plain
pickle is never used, so a malicious file cannot run code on load. With
``LoadOptions(prefer_fast=True)`` a package's verified ONNX form (``fast/``) is served instead.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

from shoal.errors import RuntimeLoadError, UnsupportedModelError, UntrustedArtifactError
from shoal.runtimes.base import LoadedModel, LoadOptions
from shoal.runtimes.estimators import EstimatorModel, feature_names_of, output_kind
from shoal.runtimes.manifest import write_manifest

MODEL_FILE = "model.skops"
TRUSTED_ROOTS = frozenset({"sklearn", "numpy", "scipy"})
"""Packages whose classes are trusted by default; functions from them are not."""


_accepted: set[str] = set()
"""Type names already accepted by the default rule in this process (see ``load_estimator``)."""


def _is_trusted_class(dotted: str) -> bool:
    """Whether ``dotted`` names a class (not a function) in a trusted package.

    Only modules under the trusted roots are ever imported: an artifact cannot make us import
    a module of its choosing.
    """
    if dotted.split(".", 1)[0] not in TRUSTED_ROOTS:
        return False
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                target = getattr(target, attribute)
        except AttributeError:
            return False
        return isinstance(target, type)
    return False


def _needed_types(file: Path) -> list[str]:
    """The types a skops file needs beyond skops' own allow-list."""
    import skops.io

    try:
        return [str(name) for name in skops.io.get_untrusted_types(file=file)]
    except Exception as exc:
        raise RuntimeLoadError(f"sklearn: {file} is not a readable skops file: {exc}") from exc


def _untrusted(needed: list[str], options: LoadOptions) -> list[str]:
    allowed = set(options.trusted_types)
    return [name for name in needed if name not in allowed and not _is_trusted_class(name)]


def untrusted_types(file: Path, options: LoadOptions) -> list[str]:
    """The types in a skops file that loading it would need but nobody trusts."""
    return _untrusted(_needed_types(file), options)


def load_estimator(file: Path, options: LoadOptions) -> object:
    """Load a skops file, trusting only what the rule above allows."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    # Fast path: auditing a file's types costs about a third of a load, and a server loads the
    # same few sklearn types over and over. skops itself refuses the file if it needs anything
    # outside the list, and then the full audit below decides.
    try:
        return skops.io.load(file, trusted=sorted(_accepted | set(options.trusted_types)))
    except UntrustedTypesFoundException:
        pass
    except Exception as exc:
        raise RuntimeLoadError(f"sklearn: cannot load {file}: {exc}") from exc
    needed = _needed_types(file)
    untrusted = _untrusted(needed, options)
    if untrusted:
        names = ", ".join(repr(name) for name in untrusted)
        raise UntrustedArtifactError(
            f"sklearn: {file} needs types that are not trusted: {names}. Loading builds these "
            "types from the file; if you trust its author, pass them as trusted types, e.g. "
            f"LoadOptions(trusted_types=({names},))"
        )
    _accepted.update(name for name in needed if _is_trusted_class(name))
    try:
        return skops.io.load(file, trusted=needed)
    except Exception as exc:
        raise RuntimeLoadError(f"sklearn: cannot load {file}: {exc}") from exc


def _write_manifest(dest: Path, estimator: object) -> None:
    write_manifest(
        dest,
        {
            "format": "sklearn",
            "class": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
            "output": output_kind(estimator),
            "feature_names": feature_names_of(estimator),
        },
    )


class SklearnRuntime:
    """Save, adopt and load scikit-learn (and sklearn-API) estimators as skops files."""

    name = "sklearn"
    file_suffixes: tuple[str, ...] = (".skops",)

    def can_save(self, obj: object) -> bool:
        # Duck typing keeps this import-free and admits sklearn-compatible estimators too.
        if isinstance(obj, type):
            return False
        has_api = all(hasattr(obj, attr) for attr in ("fit", "get_params"))
        return has_api and (hasattr(obj, "predict") or hasattr(obj, "transform"))

    def save(self, obj: object, dest: Path) -> None:
        import skops.io

        if not self.can_save(obj):
            raise UnsupportedModelError(
                f"sklearn: a {type(obj).__name__} is not a scikit-learn estimator"
            )
        output_kind(obj)  # refuse an estimator we could not serve before writing anything
        try:
            skops.io.dump(obj, dest / MODEL_FILE)
        except Exception as exc:
            raise RuntimeLoadError(
                f"sklearn: cannot save {type(obj).__name__} to {dest}: {exc}"
            ) from exc
        _write_manifest(dest, obj)

    def adopt(self, source: Path, dest: Path) -> None:
        if not source.is_file():
            raise UnsupportedModelError(f"sklearn: {source} is not a .skops file")
        try:
            estimator = load_estimator(source, LoadOptions())
            output_kind(estimator)
        except RuntimeLoadError as exc:
            raise UnsupportedModelError(f"sklearn: cannot adopt {source}: {exc}") from exc
        shutil.copyfile(source, dest / MODEL_FILE)
        _write_manifest(dest, estimator)

    def warm_up(self) -> None:
        """Import what loading needs now, so a server's first request does not pay for it."""
        import onnxruntime  # noqa: F401 - the fast path
        import sklearn.ensemble
        import sklearn.linear_model  # noqa: F401
        import skops.io  # noqa: F401

    def load(self, path: Path, options: LoadOptions) -> LoadedModel:
        if options.prefer_fast:
            from shoal.runtimes.fast_path import load_fast

            fast = load_fast(path, options)
            if fast is not None:
                return fast
        estimator = load_estimator(path / MODEL_FILE, options)
        try:
            return EstimatorModel(estimator, self.name)
        except UnsupportedModelError as exc:
            raise RuntimeLoadError(f"sklearn: {path}: {exc}") from exc
