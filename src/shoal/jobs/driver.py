"""The process that executes one notebook: papermill, then an HTML rendering, then a result file.

Run as ``python -m shoal.jobs.driver SPEC.json`` by ``runner.NotebookRunner``; it is a separate
process so that a job past its max runtime can be killed with its kernel without touching the
caller, and so that ``getrusage(RUSAGE_CHILDREN)`` measures exactly the kernel's process tree
(the kernel is this process's child and is reaped here when papermill shuts it down).
The result (``result.json``) is read by the runner; nothing here talks to Shoal's stores.
"""

from __future__ import annotations

import json
import re
import resource
import sys
import traceback
from pathlib import Path

from shoal.jobs.rendering import render_html

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    result: dict[str, object] = {"status": "succeeded"}
    try:
        _execute(spec, result)
    except Exception as exc:
        result.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        result["traceback"] = traceback.format_exc()
    result.update(_kernel_usage())
    output = Path(spec["output"])
    if output.exists():
        try:
            render_html(output, Path(spec["html"]))
        except Exception as exc:  # a notebook that will not render still keeps its .ipynb
            result["render_error"] = f"{type(exc).__name__}: {exc}"
    Path(spec["result"]).write_text(json.dumps(result), encoding="utf-8")
    return 0


def _execute(spec: dict[str, object], result: dict[str, object]) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(
            str(spec["input"]),
            str(spec["output"]),
            parameters=spec["parameters"],
            kernel_name=spec["kernel"],
            language=_language(Path(str(spec["input"]))),
            cwd=str(spec["cwd"]),
            progress_bar=False,
            log_output=False,
            autosave_cell_every=5,
        )
    except PapermillExecutionError as exc:
        result.update(
            status="failed",
            error=f"{exc.ename}: {exc.evalue}",
            cell=_source_cell(Path(str(spec["input"])), exc.source, exc.cell_index),
            source=exc.source,
            traceback=_ANSI.sub("", "\n".join(exc.traceback)),
        )


def _language(notebook: Path) -> str | None:
    """None when the notebook names its language; else Python (notebooks written by tools
    often leave it out, and papermill needs it to write the parameters cell)."""
    metadata = json.loads(notebook.read_text(encoding="utf-8")).get("metadata", {})
    named = metadata.get("kernelspec", {}).get("language") or metadata.get("language_info", {}).get(
        "name"
    )
    return None if named else "python"


def _source_cell(notebook: Path, source: str, index: int) -> int:
    """The failing cell's number in the notebook as written (0-based).

    Papermill's index counts the cell it injects and, by the time it raises, the saved output
    has an error banner cell too; so the cell is found by its source in the input instead.
    """
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return index
    for number, cell in enumerate(cells):
        text = cell.get("source", "")
        if ("".join(text) if isinstance(text, list) else text) == source:
            return number
    return index


def _kernel_usage() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    # ru_maxrss is KiB on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_bytes": usage.ru_maxrss * scale}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
