"""examples/python/cleanup.ipynb runs top to bottom in a real Jupyter kernel (ipykernel, through
nbclient) against the emulator, with tqdm's notebook bar and pandas tables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "python" / "cleanup.ipynb"


def test_cleanup_notebook_runs_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Jupyter's own files (connection files, runtime dirs) go under tmp_path; platformdirs paths, no warning.
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), "commit it without outputs"
    client = NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError when a cell fails

    outputs: list[dict[str, Any]] = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o["output_type"] == "error"]
    data = [o.get("data", {}) for o in outputs]
    html = "\n".join(d.get("text/html", "") for d in data)
    # tqdm.auto chose the notebook widget (ipywidgets is installed), not the text bar.
    assert any("application/vnd.jupyter.widget-view+json" in d for d in data)
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert "IProgress not found" not in stderr
    # The report's own HTML summary, and pandas tables of its records.
    assert "timrest BatchReport</b>: 181 items" in html and "<b>180</b> ok, <b>1</b> failed" in html
    assert "<td>GroupNotFoundError</td><td>1</td>" in html
    assert 'class="dataframe"' in html and "@TGS#GONE" in html
    printed = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
    assert "180 deleted, 1 failed, 0 rate-limit rejections" in printed
