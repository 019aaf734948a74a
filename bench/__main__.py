"""Run every benchmark in turn: `python -m bench` (or `make bench`). Figures go to docs/benchmarks.md by hand."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    wanted = set(sys.argv[1:])
    for script in sorted(HERE.glob("bench_*.py")):
        if wanted and script.stem.removeprefix("bench_") not in wanted:
            continue
        print(f"\n## {script.stem}\n", flush=True)
        subprocess.run([sys.executable, "-m", f"bench.{script.stem}"], cwd=HERE.parent, check=False)
