"""Backends compared on conformance posteriors: time to result and accuracy.

For each backend (NUTS, full-rank and mean-field ADVI, SMC, Pathfinder, MAP + Laplace) and each
posterior, the model is loaded afresh (so the time includes compilation), sampled once with
seed 0, and compared with the kit's reference summary:

- ``mean err``: max over the reference parameters of ``|mean - ref mean| / ref sd``;
- ``sd err``: max over the reference parameters of ``|sd / ref sd - 1|``.

NUTS uses the project defaults (4 chains, 1000 warmup, 1000 draws); every other backend returns
``4 * --draws`` draws (default 250 each, 1000 in all; SMC then uses 1000 particles). Backend
options are the defaults, except ADVI's tighter convergence test (as in
``tests/conformance/test_backends_conformance.py``) and SMC on diamonds-diamonds, whose proper
but wide priors make tempering from the prior take minutes: it starts from the Laplace reference
there (row marked ``smc*``).

The kit is read from ``$PPL_CONFORMANCE_DIR`` or ``../shared/conformance``.

Run: ``python -m benchmarks.backends [--posteriors a,b] [--backends nuts,smc] [--draws 250]``
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

import ppl
from ppl.summary import flat_draws

REPO = Path(__file__).resolve().parents[1]
KIT = Path(os.environ.get("PPL_CONFORMANCE_DIR") or REPO.parent / "shared" / "conformance")
MODELS = REPO / "tests" / "conformance" / "models"

POSTERIORS = [
    "eight_schools-eight_schools_noncentered",
    "kidiq-kidscore_interaction",
    "sblrc-blr",
    "diamonds-diamonds",
]
ADVI_TUNED = {"tol": 1e-5, "plateaus": 6, "max_steps": 40_000}
BACKENDS: dict[str, tuple[str, dict]] = {
    "nuts": ("nuts", {}),
    "advi fullrank": ("advi", {"family": "fullrank", **ADVI_TUNED}),
    "advi meanfield": ("advi", {"family": "meanfield", **ADVI_TUNED}),
    "smc": ("smc", {}),
    "pathfinder": ("pathfinder", {}),
    "map+laplace": ("map", {"laplace": True}),
}
# Per-posterior overrides: (backend label, posterior) -> extra options.
OVERRIDES = {("smc", "diamonds-diamonds"): {"reference": "laplace"}}


def accuracy(draws: dict, reference: dict) -> tuple[float, float]:
    """Max ``|mean - ref mean| / ref sd`` and max ``|sd / ref sd - 1|`` over the reference
    parameters."""
    mean_err = sd_err = 0.0
    for name, ref in reference["params"].items():
        x = np.asarray(draws[name], dtype=float).ravel()
        mean_err = max(mean_err, abs(x.mean() - ref["mean"]) / ref["sd"])
        sd = x.std(ddof=1) if x.size > 1 else 0.0
        sd_err = max(sd_err, abs(sd / ref["sd"] - 1))
    return mean_err, sd_err


def run_one(posterior: str, label: str, draws: int) -> dict:
    """Fit ``posterior`` with the backend ``label`` from a freshly loaded model; the row."""
    reference = json.loads((KIT / "posteriors" / posterior / "reference.json").read_text())
    data = json.loads((KIT / "data" / f"{reference['data']}.json").read_text())
    backend, options = BACKENDS[label]
    override = OVERRIDES.get((label, posterior), {})
    settings = {} if backend == "nuts" else {"chains": 4, "draws": draws}
    start = time.perf_counter()
    try:
        model = ppl.load(MODELS / f"{posterior}.ppl")
        recorded = sorted({name.partition("[")[0] for name in reference["params"]})
        fit = model.sample(data, backend=backend, seed=0, var_names=recorded, **settings,
                           **options, **override)
        seconds = time.perf_counter() - start
        mean_err, sd_err = accuracy(flat_draws(fit), reference)
        note = "" if not override else "*"
    except Exception as exc:  # report and go on
        seconds, mean_err, sd_err = time.perf_counter() - start, float("nan"), float("nan")
        note = f" ({type(exc).__name__})"
    return {"posterior": posterior, "backend": label + note, "seconds": seconds,
            "mean_err": mean_err, "sd_err": sd_err}


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    lines = ["| posterior | backend | time (s) | mean err (sd) | sd err |",
             "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['posterior']} | {r['backend']} | {r['seconds']:.1f} | "
                     f"{r['mean_err']:.3f} | {r['sd_err']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run every (posterior, backend) pair and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posteriors", default=",".join(POSTERIORS))
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--draws", type=int, default=250)
    args = parser.parse_args(argv)
    if not (KIT / "check.py").is_file():
        raise SystemExit(f"conformance kit not found at {KIT} (set PPL_CONFORMANCE_DIR)")
    warnings.filterwarnings("ignore", message=".*data entries not used by the model")
    rows = []
    for posterior in args.posteriors.split(","):
        for label in args.backends.split(","):
            rows.append(run_one(posterior, label, args.draws))
            r = rows[-1]
            print(f"{r['posterior']:42s} {r['backend']:16s} {r['seconds']:7.1f} s  "
                  f"mean {r['mean_err']:.3f}  sd {r['sd_err']:.3f}", flush=True)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
