"""`robovlms plugins --json`: wall time with every distribution installed, and what it imports."""

from __future__ import annotations

import json
import subprocess
import sys

from timing import median_seconds

LISTING = [sys.executable, "-m", "robovlms", "plugins", "--json"]


def main() -> None:
    rows = json.loads(subprocess.run(LISTING, capture_output=True, text=True, check=True).stdout)
    seconds = median_seconds(lambda: subprocess.run(LISTING, capture_output=True, check=True), repeat=15, warmup=2)
    baseline = median_seconds(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), repeat=15, warmup=2)
    trace = subprocess.run([sys.executable, "-X", "importtime", *LISTING[1:]], capture_output=True, text=True).stderr
    modules = {line.split("|")[-1].strip() for line in trace.splitlines() if line.startswith("import time:")}
    heavy = sorted(m for m in modules if m.split(".")[0] in {"torch", "transformers"} or m.startswith("robovlms_"))
    print(
        json.dumps(
            {
                "plugins_listed": len(rows),
                "statuses": sorted({r["status"] for r in rows}),
                "median_wall_s": round(seconds, 4),
                "bare_python_s": round(baseline, 4),
                "modules_imported": len(modules),
                "torch_transformers_or_plugin_modules": heavy,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
