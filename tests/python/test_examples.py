"""The examples run against the emulator with the installed package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# asgi_app.py is an app, not a script: test_async.py serves it with uvicorn and drives it over HTTP.
EXAMPLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "examples" / "python").glob("*.py")
                  if p.name != "asgi_app.py")


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"quickstart.py", "typed_usage.py"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
