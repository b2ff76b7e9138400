"""``make bench``: every benchmark, one after another; figures are printed and kept in .bench/*.json."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
for script in sorted(HERE.glob("bench_*.py")):
    print(f"--- {script.name}", flush=True)
    subprocess.run([sys.executable, str(script), *sys.argv[1:]], check=True)
