"""Pathfinder against ADVI and MAP + Laplace on the conformance regression posteriors.

For each regression posterior of ``tests/conformance/test_backends_conformance.py`` it fits,
in one run, with ``chains=4, draws=250`` (1000 draws) and seed 0:

- ``pathfinder`` with the defaults it had before they were chosen by this benchmark
  (``ftol=1e-5``, ``maxcor=10``, ``maxiter=200``: ``pf_old``) and with the current defaults
  (``ftol=2.2e-12``, ``maxcor=20``, ``maxiter=1000``: ``pf_new``);
- ``advi`` with ``family="meanfield"`` and ``family="fullrank"`` (its other defaults);
- ``map`` with ``laplace=True``;

and prints, per posterior and method, the largest ``|mean - ref mean| / ref sd`` over the
kit's reference parameters (``err``), the largest ``|sd / ref sd - 1|`` (``sd``), and the
wall time of the second of two identical fits (compilation excluded) divided by that of
``pf_new`` (``t/pf_new``), and the Pareto k of each method's importance weights (above 0.7:
flagged).

    python benchmarks/bench_pathfinder.py [--posteriors kidiq,earnings] [--methods pf_old,pf_new]
        [--pathfinder '{"pf_m5": {"maxcor": 5}}']

The kit is read from ``$PPL_CONFORMANCE_DIR`` or ``../shared/conformance``. Timings drift on
shared machines: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import ppl
from ppl.summary import flat_draws

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(HERE.parent))

from benchmarks.bench_core import REGRESSION_POSTERIORS  # noqa: E402

KIT = Path(os.environ.get("PPL_CONFORMANCE_DIR") or HERE.parent.parent / "shared" / "conformance")
MODELS = HERE.parent / "tests" / "conformance" / "models"

POSTERIORS = REGRESSION_POSTERIORS

# Method name -> (backend, options).
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "pf_old": ("pathfinder", {"ftol": 1e-5, "maxcor": 10, "maxiter": 200}),
    "pf_new": ("pathfinder", {}),
    "advi_mf": ("advi", {"family": "meanfield"}),
    "advi_fr": ("advi", {"family": "fullrank"}),
    "laplace": ("map", {"laplace": True}),
}
CHAINS, DRAWS, SEED = 4, 250, 0


def load(name: str) -> tuple[ppl.Model, dict, dict]:
    """The conformance model, the kit's data and its reference for posterior ``name``."""
    reference = json.loads((KIT / "posteriors" / name / "reference.json").read_text())
    data = json.loads((KIT / "data" / f"{reference['data']}.json").read_text())
    return ppl.load(MODELS / f"{name}.ppl"), data, reference["params"]


def errors(fit, reference: dict) -> tuple[float, float]:
    """Largest mean error in reference sds and largest relative sd error."""
    draws = flat_draws(fit)
    mean_err = sd_err = 0.0
    for param, ref in reference.items():
        x = np.asarray(draws[param], dtype=float).ravel()
        mean_err = max(mean_err, abs(x.mean() - ref["mean"]) / ref["sd"])
        sd_err = max(sd_err, abs(x.std(ddof=1) / ref["sd"] - 1))
    return mean_err, sd_err


def measure(model: ppl.Model, data: dict, reference: dict, backend: str,
            options: dict) -> dict:
    """One method on one posterior: errors, warm wall time and Pareto k (or the error)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.sample(data=data, backend=backend, chains=CHAINS, draws=DRAWS, seed=SEED,
                         **options)  # compiles
            start = time.perf_counter()
            fit = model.sample(data=data, backend=backend, chains=CHAINS, draws=DRAWS,
                               seed=SEED, **options)
            seconds = time.perf_counter() - start
    except ppl.PPLError as exc:  # a method that fails on a posterior is a result too
        return {"failed": str(exc).splitlines()[0]}
    mean_err, sd_err = errors(fit, reference)
    k = next((fit.attrs[key] for key in ("pareto_k", "vi_pareto_k", "map_pareto_k")
              if key in fit.attrs), float("nan"))
    return {"err": mean_err, "sd": sd_err, "seconds": seconds, "k": float(k)}


def row(name: str, method: str, result: dict, base: float) -> str:
    """One printed line."""
    if "failed" in result:
        return f"{name:32s} {method:8s} failed: {result['failed']}"
    return (f"{name:32s} {method:8s} {result['err']:7.3f} {result['sd']:7.3f} "
            f"{result['seconds'] / base:9.2f} {result['k']:6.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posteriors", default="", help="comma-separated names or parts")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated, from {', '.join(METHODS)}")
    parser.add_argument("--pathfinder", default="{}",
                        help='more Pathfinder settings to compare, as JSON: '
                             '{"name": {"maxcor": 5}, ...}')
    args = parser.parse_args(argv)
    extra = {name: ("pathfinder", options)
             for name, options in json.loads(args.pathfinder).items()}
    table = {**METHODS, **extra}
    wanted = [w for w in args.posteriors.split(",") if w]
    names = [n for n in POSTERIORS if not wanted or any(w in n for w in wanted)]
    methods = [m for m in args.methods.split(",") if m] + list(extra)
    print(f"{'posterior':32s} {'method':8s} {'err':>7s} {'sd':>7s} {'t/pf_new':>9s} {'k':>6s}")
    for name in names:
        model, data, reference = load(name)
        results = {m: measure(model, data, reference, *table[m]) for m in methods}
        base = results.get("pf_new", {}).get("seconds", 1.0)
        for method in methods:
            print(row(name, method, results[method], base), flush=True)


if __name__ == "__main__":
    main()
