"""Start-up cost: ``robovlms plugins`` against bare ``importlib.metadata``, and ``import robovlms`` alone.

Each is a fresh interpreter, timed in alternation with its baseline. The listing must stay near
the cost of reading entry-point metadata, and the package import must never pull in torch.
"""

from __future__ import annotations

import json
import subprocess
import sys

from timing import interleaved

LISTING = [sys.executable, "-m", "robovlms", "plugins", "--json"]
BASELINE = [sys.executable, "-c", "import importlib.metadata"]
#: prints the seconds `import robovlms` takes in a fresh interpreter, and whether torch came with it
IMPORT = (
    "import sys, time; t = time.perf_counter(); import robovlms; print(time.perf_counter() - t, 'torch' in sys.modules)"
)


def run(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def measure() -> dict[str, object]:
    rows = json.loads(run(LISTING))
    times = interleaved({"listing": lambda: run(LISTING), "baseline": lambda: run(BASELINE)}, repeat=15, warmup=2)
    imports = [run([sys.executable, "-c", IMPORT]).split() for _ in range(15)]
    import_ms = sorted(float(seconds) * 1e3 for seconds, _ in imports)[len(imports) // 2]
    return {
        "ratios": {
            "listing, robovlms plugins / import importlib.metadata": {
                "value": times["listing"] / times["baseline"],
                "goal": ["<=", 2],
            },
            "import robovlms, ms": {"value": import_ms, "goal": ["<", 100]},
            "import robovlms, torch imported": {"value": any(t == "True" for _, t in imports), "goal": ["==", False]},
        },
        "details": {
            "plugins_listed": len(rows),
            "statuses": sorted({row["status"] for row in rows}),
            "listing_ms": times["listing"] * 1e3,
            "import_importlib_metadata_ms": times["baseline"] * 1e3,
        },
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
