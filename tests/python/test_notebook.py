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


def test_the_notebook_runs_from_its_first_cell_in_a_fresh_venv(tmp_path: Path) -> None:
    """A fresh virtualenv with nothing but what the first cell says to install (``.[notebook]``),
    then the notebook executed headless with ``jupyter nbconvert``, as that cell says."""
    import json
    import shlex
    import subprocess
    import sys

    first = "".join(json.loads(NOTEBOOK.read_text())["cells"][0]["source"])
    commands = first.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    install = next(c for c in commands if c.startswith("pip install "))
    assert any(c.startswith("jupyter lab ") for c in commands) and "jupyter nbconvert --to notebook --execute" in first

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    argv = shlex.split(install.split("#", 1)[0])[2:]  # the cell's own arguments: ".[notebook]"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    done = subprocess.run(pip + argv, cwd=NOTEBOOK.parents[2], env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
                            capture_output=True, text=True, check=True, env=env).stdout
    names = {p["name"].lower() for p in json.loads(listed)}
    assert {"timrest", "jupyterlab", "pandas", "tqdm", "ipywidgets"} <= names
    assert not {"pytest", "mypy", "nbclient-test"} & names, "only the extra, not our test tools"

    out = tmp_path / "run.ipynb"
    env.update(JUPYTER_PLATFORM_DIRS="1", JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    run = subprocess.run(
        [str(venv / "bin" / "jupyter"), "nbconvert", "--to", "notebook", "--execute", str(NOTEBOOK),
         "--output", str(out), "--ExecutePreprocessor.timeout=600"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    cells = json.loads(out.read_text())["cells"]
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    printed = "".join("".join(o.get("text", "")) for o in outputs if o.get("name") == "stdout")
    assert "180 deleted, 1 failed, 0 rate-limit rejections" in printed
