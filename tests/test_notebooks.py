"""The notebooks in docs/notebooks run top to bottom, show pictures, and are committed without outputs.

Each notebook sets its sizes in one parameter cell (the first code cell, tagged "parameters", as papermill
expects). The test runs it with small sizes: it inserts a cell after the parameter cell that sets the
values in SMALL (papermill's "injected-parameters" convention), then executes the notebook in a fresh
python3 kernel whose PYTHONPATH starts with this checkout, so the kernel imports the code under test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "docs" / "notebooks"

# The sizes a test can afford; each name must be set in the notebook's parameter cell.
SMALL = {
    "01-mazes.ipynb": {"N_MAZES": 500},
    "02-network.ipynb": {"N_MAZES": 40, "N_RANK": 100},
    "03-predictions.ipynb": {"N_MAZES": 40, "N_BOOT": 100},
}
PICTURE_TYPES = ("image/png", "image/svg+xml")
# The mazeprobe objects each notebook ends a cell with, and what they must show themselves as (rich display)
RICH = {
    "01-mazes.ipynb": {
        "MazeTableSummary(": "text/html", "MazeImage(": "image/png", "MazeState(": "image/png",
    },
    "02-network.ipynb": {"VectorFieldPicture(": "image/png"},
    "03-predictions.ipynb": {
        "RunDir(": "text/html", "Leaderboard(": "text/html", "CalibrationReport(": "text/html",
    },
}
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colours in IPython tracebacks


def _notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _parameter_cell(nb) -> int:
    """The index of the parameter cell: the first code cell, which must carry the tag."""
    index = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code")
    assert "parameters" in nb.cells[index].metadata.get("tags", []), "the first code cell is not tagged"
    return index


def test_every_notebook_has_small_sizes_and_one_parameter_cell():
    assert [p.name for p in _notebooks()] == sorted(SMALL)
    for path in _notebooks():
        nb = nbformat.read(path, as_version=4)
        tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
        assert tagged == [_parameter_cell(nb)], f"{path.name}: one parameter cell, the first code cell"
        source = nb.cells[tagged[0]].source
        for name in SMALL[path.name]:
            assert f"\n{name} = " in f"\n{source}", f"{path.name}: the parameter cell does not set {name}"


def test_committed_notebooks_have_no_outputs():
    for path in _notebooks():
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (
                    f"{path.name}: cell {i} has outputs or an execution count; clear them before committing"
                )


def _git_status() -> set[str] | None:
    """Changed and untracked paths of the checkout (what git does not ignore), or None outside git."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=REPO, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return set(out.splitlines())


def _pictures(nb) -> int:
    count = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            html = data.get("text/html", "")
            html = "".join(html) if isinstance(html, list) else html
            if any(t in data for t in PICTURE_TYPES) or "<img" in html or "<svg" in html:
                count += 1
    return count


def _execute(nb, label: str) -> float:
    """Run every cell in a fresh python3 kernel working in the notebook folder (as when a reader opens it
    there); return the seconds it took. A failing cell fails the test with its index and source."""
    where = {"metadata": {"path": str(NOTEBOOKS)}}
    client = NotebookClient(nb, kernel_name="python3", timeout=600, resources=where)
    started = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError:
        for index, cell in enumerate(nb.cells):
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                trace = ANSI.sub("", "\n".join(errors[0].get("traceback", [])))
                pytest.fail(f"{label}: cell {index} failed:\n{cell.source}\n---\n{trace}", pytrace=False)
        raise
    return time.perf_counter() - started


@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs_top_to_bottom_with_pictures(name, monkeypatch, tmp_path):
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    values = "\n".join(f"{k} = {v!r}" for k, v in SMALL[name].items())
    injected = nbformat.v4.new_code_cell(f"# injected by tests/test_notebooks.py\n{values}")
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(_parameter_cell(nb) + 1, injected)
    which = "import json, mazeprobe; print(json.dumps(mazeprobe.__file__))"
    nb.cells.append(nbformat.v4.new_code_cell(which))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebooks' temporary folders, which pytest cleans up

    before = _git_status()
    seconds = _execute(nb, name)
    print(f"\n{name}: executed in {seconds:.1f} s with {SMALL[name]}")
    imported = json.loads(nb.cells[-1].outputs[0]["text"])
    assert Path(imported).resolve().is_relative_to(REPO), f"the kernel imported {imported}, not this checkout"
    assert _pictures(nb) >= 1, f"{name}: no cell shows a picture (image/png, image/svg+xml, <img> or <svg>)"
    assert any(tmp_path.iterdir()), f"{name} wrote nothing to its temporary folder"
    shown = [o["data"] for c in nb.cells if c.cell_type == "code" for o in c.outputs if "data" in o]
    for prefix, mime in RICH[name].items():
        assert any(d.get("text/plain", "").startswith(prefix) and mime in d for d in shown), (
            f"{name}: no {prefix}...) shown as {mime}"
        )
    after = _git_status()
    if before is not None:
        assert after == before, f"{name} changed the checkout: {sorted(after ^ before)}"


def test_a_failing_cell_fails_with_its_source_and_pictures_are_counted():
    cells = ["x = 1", "y = x / 0  # divides by zero", "print('never run')"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    with pytest.raises(pytest.fail.Exception) as failed:
        _execute(nb, "broken.ipynb")
    message = str(failed.value)
    assert "broken.ipynb: cell 1 failed:\ny = x / 0  # divides by zero" in message
    assert "ZeroDivisionError" in message and "never run" not in message
    assert _pictures(nb) == 0
    def shown(kind: str, data: str):
        return nbformat.v4.new_output("display_data", data={kind: data})

    nb.cells[0].outputs = [shown("text/html", "<p>no picture</p>"), shown("text/plain", "<svg>")]
    assert _pictures(nb) == 0
    nb.cells[0].outputs.append(shown("image/png", "iVBORw0KGgo="))
    nb.cells[2].outputs = [shown("text/html", "<div><svg></svg></div>")]
    assert _pictures(nb) == 2
