#!/usr/bin/env python3
"""Run the property-based fuzz tests at a larger scale than CI (CI: 2,000 parser + 300 handler payloads).

python scripts/fuzz.py [--scale 10]     # 10x: 20,000 parser payloads and 3,000 full-handler payloads
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10)
    args = parser.parse_args()
    env = {**os.environ, "SAM3_FUZZ_SCALE": str(args.scale)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        str(ROOT / "tests" / "test_fuzz.py"),
        "--hypothesis-show-statistics",
    ]
    raise SystemExit(subprocess.call(command, cwd=ROOT, env=env))
