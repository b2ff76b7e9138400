"""``make bench``: every benchmark, one after another; figures are printed and kept in .bench/*.json.

``make bench ONLY="scenes shots interpolate remaster"`` (or ``run_all.py --only scenes,shots``) runs just those
``bench_<name>.py`` scripts, in one run; other arguments are passed to every script.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help="comma- or space-separated benchmark names (bench_<name>.py)")
    args, rest = parser.parse_known_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    wanted = [n for n in args.only.replace(",", " ").split() if n]
    if wanted:
        known = {s.stem.removeprefix("bench_"): s for s in scripts}
        unknown = [n for n in wanted if n not in known]
        if unknown:
            sys.exit(f"unknown benchmark(s) {unknown}; choose from {sorted(known)}")
        scripts = [known[n] for n in wanted]
    for script in scripts:
        print(f"--- {script.name}", flush=True)
        subprocess.run([sys.executable, str(script), *rest], check=True)


if __name__ == "__main__":
    main()
