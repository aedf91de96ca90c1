"""What a user waits for before ppl does anything: import and ``ppl check`` wall time.

Each command runs in a fresh Python process (nothing imported yet, as a user starts it), the
commands interleaved, ``--reps`` times each; printed side by side in one run: the median wall
seconds, the ratio to ``import jax`` and to ``import jax, numpyro`` (issue 16 asks for
``import ppl`` at most 1.3x the latter), and which heavy modules ``import ppl`` loads.

    python benchmarks/bench_import.py [--reps 7]

The machines are shared and noisy: compare ratios within one run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "examples" / "eight_schools.ppl"

COMMANDS = {
    "import jax": ["-c", "import jax"],
    "import jax, numpyro": ["-c", "import jax, numpyro"],
    "import ppl": ["-c", "import ppl"],
    "ppl check eight_schools.ppl": ["-m", "ppl.cli", "check", str(MODEL)],
    "ppl backends": ["-m", "ppl.cli", "backends"],
}

# Modules that a user who only parses or checks a model should not pay for.
HEAVY = ("arviz", "arviz_plots", "arviz_stats", "matplotlib.pyplot", "xarray", "pandas",
         "optax", "blackjax", "numpyro", "scipy.stats")


def environment() -> dict[str, str]:
    """This checkout's ppl first on the path; ppl's compilation cache left alone."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def wall_seconds(arguments: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, *arguments], env=environment(), cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def loaded_by_import_ppl() -> list[str]:
    script = (f"import sys, ppl; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], env=environment(), cwd=ROOT,
                          check=True, capture_output=True, text=True)
    return done.stdout.split()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
        sys.path.insert(0, str(ROOT))
    from benchmarks.bench_core import byte_compile_checkout

    byte_compile_checkout()
    times: dict[str, list[float]] = {label: [] for label in COMMANDS}
    for _ in range(args.reps):  # interleaved, so that a burst of load hits every command
        for label, arguments in COMMANDS.items():
            times[label].append(wall_seconds(arguments))
    median = {label: statistics.median(values) for label, values in times.items()}
    jax_alone, jax_numpyro = median["import jax"], median["import jax, numpyro"]
    print(f"fresh processes, median of {args.reps}, wall seconds "
          f"(load average {os.getloadavg()[0]:.2f})")
    print(f"  {'':<30} {'seconds':>8} {'/ jax':>7} {'/ jax+numpyro':>14}")
    for label, value in median.items():
        print(f"  {label:<30} {value:8.2f} {value / jax_alone:6.2f}x "
              f"{value / jax_numpyro:13.2f}x")
    heavy = loaded_by_import_ppl()
    print(f"heavy modules loaded by `import ppl`: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
