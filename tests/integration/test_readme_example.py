"""The README's first Python example, as written, against sam3-serve on loopback: run with ``python -S`` (no
site-packages at all), so it needs nothing beyond what ``make serve``'s environment (or any Python) has."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from helpers import scene

README = Path(__file__).resolve().parents[2] / "README.md"


def first_python_example() -> str:
    found = re.search(r"python - <<'EOF'\n(.*?)\nEOF\n", README.read_text(), re.DOTALL)
    assert found, "the README's first example is a `python - <<'EOF'` block"
    return found[1]


def test_the_readmes_first_example_runs_as_written(server, tmp_path):
    code = first_python_example()
    assert "http://127.0.0.1:8080/" in code, "it calls the server `make serve` starts"
    scene().save(tmp_path / "image.jpg")
    run = subprocess.run(
        [sys.executable, "-S", "-c", code.replace("http://127.0.0.1:8080/", server + "/")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    count, scores = run.stdout.strip().split(" ", 1)
    assert int(count) == len(eval(scores))  # noqa: S307 - the example prints a Python list of floats
