"""Executed notebooks as HTML (nbconvert), and where a timed-out notebook stopped."""

from __future__ import annotations

import json
from pathlib import Path


def render_html(notebook: Path, html: Path) -> None:
    """Write ``notebook`` rendered as a standalone HTML page to ``html``."""
    import nbformat  # imported here: nbconvert takes a second to import
    from nbconvert import HTMLExporter

    node = nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
    body, _ = HTMLExporter().from_notebook_node(node)  # type: ignore[no-untyped-call]
    html.write_text(body, encoding="utf-8")


def running_cell(notebook: Path) -> int | None:
    """The cell papermill had marked running when the notebook was last saved (0-based, as
    written: the injected parameters cell is not counted), or None."""
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return None
    number = 0
    for cell in cells:
        metadata = cell.get("metadata", {})
        if "injected-parameters" in metadata.get("tags", []):
            continue
        if metadata.get("papermill", {}).get("status") == "running":
            return number
        number += 1
    return None
