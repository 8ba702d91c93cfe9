from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from shoal.errors import ValidationError
from shoal.jobs.notebooks import read_notebook


def write(path: Path, parameters: str | None) -> Path:
    cells = [new_code_cell("print('hello')")]
    if parameters is not None:
        cells.insert(0, new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nbformat.write(new_notebook(cells=cells), path)
    return path


def test_the_parameters_cell_declares_the_names_a_job_may_set(tmp_path: Path) -> None:
    notebook = read_notebook(
        write(tmp_path / "nb.ipynb", "day = '2024-01-01'\nn: int = 3\nrate = 0.5")
    )
    assert list(notebook.parameters) == ["day", "n", "rate"]
    assert len(notebook.digest) == 64


def test_values_are_typed_like_the_defaults_they_replace(tmp_path: Path) -> None:
    notebook = read_notebook(write(tmp_path / "nb.ipynb", "customer = 'acme'\nrate = 0.5\nn = 1"))
    bound = notebook.bind({"customer": 42, "rate": 1, "n": 7})
    assert bound == {"customer": "42", "rate": 1.0, "n": 7}
    assert isinstance(bound["rate"], float)


def test_an_unknown_parameter_is_refused_naming_it_and_the_known_ones(tmp_path: Path) -> None:
    notebook = read_notebook(write(tmp_path / "nb.ipynb", "day = '2024-01-01'\nn = 3"))
    with pytest.raises(ValidationError, match=r"no parameter 'dya'; its parameters are: day, n"):
        notebook.bind({"dya": "2024-01-02"})


def test_a_notebook_without_a_parameters_cell_takes_no_parameters(tmp_path: Path) -> None:
    notebook = read_notebook(write(tmp_path / "nb.ipynb", None))
    with pytest.raises(ValidationError, match="no cell tagged 'parameters'"):
        notebook.bind({"day": "x"})


def test_a_missing_or_broken_notebook_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        read_notebook(tmp_path / "absent.ipynb")
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    with pytest.raises(ValidationError, match="not a valid notebook"):
        read_notebook(broken)
    with pytest.raises(ValidationError, match="not a notebook"):
        read_notebook(tmp_path / "script.py")
