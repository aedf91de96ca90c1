"""What the default ``init="auto"`` costs: time to first draw with it against ``init="uniform"``.

For each conformance model (tests/conformance/models/*.ppl, on the kit's data) two fresh
processes each run ``ppl.load(model).sample(data, chains=1, draws=1, warmup=1)``, one with
``init="uniform"`` (Stan's uniform(-2, 2) points) and one with ``init="auto"`` (L-BFGS climbs
and finite-difference Hessians first), each with its own cold compilation cache; it prints the
seconds and their ratio, auto / uniform (lower is better; 1 means the climbs cost nothing).

    python benchmarks/bench_init.py [--models arK,garch11,...]

The kit is read from ``$PPL_CONFORMANCE_DIR`` or ``../shared/conformance``. Compare only the
ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(HERE.parent))

from benchmarks.bench_conformance import load_case, select  # noqa: E402
from benchmarks.bench_core import KIT, first_draw_seconds  # noqa: E402


def measure(name: str) -> dict:
    """Seconds to first draw with ``init="uniform"`` and ``"auto"``, each with a cold cache."""
    from benchmarks.handwritten_conformance import MODELS

    case = load_case(name)
    row: dict = {"model": name}
    with tempfile.TemporaryDirectory() as tmp:
        for init in ("uniform", "auto"):
            row[f"{init}_s"] = first_draw_seconds("dsl", case.model_path, MODELS[case.posterior],
                                                  case.data_path, True, Path(tmp) / init, init)
    row["ratio"] = row["auto_s"] / row["uniform_s"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated selection (default: all)")
    args = parser.parse_args()
    if not (KIT / "posteriors").is_dir():
        raise SystemExit(f"conformance kit not found at {KIT}: set PPL_CONFORMANCE_DIR")
    rows = []
    for name in select(args.models):
        rows.append(measure(name))
        print(json.dumps(rows[-1]), flush=True)
    print("\n| model | first draw, init=uniform | init=auto | auto / uniform |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['uniform_s']:.1f} s | {r['auto_s']:.1f} s | "
              f"{r['ratio']:.2f} |")


if __name__ == "__main__":
    main()
