"""Validation at scale: simulations per minute, and what compiling once per worker buys.

Eight schools (non-centred, ``examples/``) by default, or ``--model FILE --data FILE``. The
simulated data sets come from the model's prior predictive distribution, as in
``Model.validate``. Printed side by side, in one run:

- fits per minute in this process, per backend (``--backends``: NUTS, ADVI and Pathfinder by
  default, side by side): reusing one ``Model`` (its compiled programs serve every data set of
  the same shapes) against a new ``Model`` per data set with the persistent compilation cache
  off (everything traced and compiled again); their ratio is what the data-as-arguments design
  buys a simulation study;
- simulations per minute of the whole ``Model.validate`` study (prior simulation, fits, SBC
  and TARP) on a Dask ``LocalCluster`` of 1 and of 2 single-threaded worker processes (cluster
  start-up included, as a user sees it), and with the vectorised path (all fits as one
  ``jax.vmap``-ed program in this process, compilation included).

    python benchmarks/bench_validate.py [--simulations 40] [--draws 500] [--workers 1,2]
        [--backends nuts,advi,pathfinder] [--reuse-only]

Compare numbers within one run only (the machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def simulated_datasets(model, data: dict, count: int, seed: int = 0) -> list[dict]:
    """``count`` data sets with the observed quantities drawn from the prior predictive."""
    import numpy as np

    simulated = model.sample_prior_predictive(data, draws=count, seed=seed)
    observed = list(simulated["prior_predictive"].data_vars)
    return [{**data, **{n: np.asarray(simulated["prior_predictive"][n].values[0, i])
                        for n in observed}} for i in range(count)]


# What each backend's fits take besides the data (ADVI ignores warm-up; Pathfinder runs one
# path per chain).
BACKEND_RUNS = {"nuts": {}, "advi": {}, "pathfinder": {}, "smc": {}, "map": {"laplace": True}}


def fits_per_minute(model_path: Path, datasets: list[dict], run: dict,
                    backend: str = "nuts") -> dict[str, float]:
    """In this process: one Model reused, against a new Model per data set (no disk cache)."""
    import ppl

    rates = {}
    run = {**run, "backend": backend, **BACKEND_RUNS.get(backend, {})}
    model = ppl.load(model_path)
    model.sample(datasets[0], **run)  # the first compilation is not what is compared
    began = time.perf_counter()
    outcomes = ppl.fit_many(model, datasets, cluster=None, **run)
    rates["reuse (one Model)"] = len(datasets) / (time.perf_counter() - began) * 60
    failed = [o.error for o in outcomes if not o.ok]
    if failed:
        raise RuntimeError(f"{backend}: {len(failed)} fits failed, the first: {failed[0]}")
    before = os.environ.get("PPL_CACHE_DIR")
    os.environ["PPL_CACHE_DIR"] = ""  # no persistent cache: each new Model compiles again
    try:
        began = time.perf_counter()
        for i, data in enumerate(datasets):
            ppl.load(model_path).sample(data, seed=i, **run)
        rates["recompile (new Model each)"] = len(datasets) / (time.perf_counter() - began) * 60
    finally:
        if before is None:
            del os.environ["PPL_CACHE_DIR"]
        else:
            os.environ["PPL_CACHE_DIR"] = before
    return rates


def study_rates(model_path: Path, data: dict, simulations: int, workers: list[int],
                run: dict) -> dict[str, tuple[float, str]]:
    """Simulations per minute of ``Model.validate`` on local clusters of each size."""
    import ppl

    out = {}
    for count in workers:
        model = ppl.load(model_path)
        began = time.perf_counter()
        result = model.validate(data, simulations=simulations, cluster="local", workers=count,
                                **run)
        out[f"validate, {count} worker{'s' * (count > 1)}"] = (
            simulations / (time.perf_counter() - began) * 60, result.verdict)
    began = time.perf_counter()
    result = ppl.load(model_path).validate(data, simulations=simulations, vectorised=True, **run)
    out["validate, vectorised"] = (simulations / (time.perf_counter() - began) * 60,
                                   result.verdict)
    return out


def show_reuse(rates: dict[str, dict[str, float]]) -> None:
    """Fits per minute, reuse against recompile, one row per backend."""
    print(f"  {'backend':<12} {'reuse fits/min':>15} {'recompile fits/min':>19} {'ratio':>7}")
    for backend, pair in rates.items():
        reuse, recompile = pair["reuse (one Model)"], pair["recompile (new Model each)"]
        print(f"  {backend:<12} {reuse:15.1f} {recompile:19.1f} {reuse / recompile:6.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "examples" / "eight_schools.ppl")
    parser.add_argument("--data", type=Path, default=ROOT / "examples" / "eight_schools.json")
    parser.add_argument("--simulations", type=int, default=40)
    parser.add_argument("--reuse-fits", type=int, default=10,
                        help="data sets for the reuse/recompile comparison")
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--backends", default="nuts,advi,pathfinder",
                        help="backends for the reuse/recompile comparison")
    parser.add_argument("--reuse-only", action="store_true",
                        help="only the reuse/recompile comparison, no validate studies")
    args = parser.parse_args()
    import ppl

    data = json.loads(args.data.read_text())
    run = dict(chains=1, draws=args.draws, warmup=args.draws)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        datasets = simulated_datasets(ppl.load(args.model), data, args.reuse_fits)
        rates = {backend: fits_per_minute(args.model, datasets, run, backend)
                 for backend in args.backends.split(",")}
        studies = {} if args.reuse_only else study_rates(
            args.model, data, args.simulations, [int(w) for w in args.workers.split(",")], run)
    print(f"{args.model.name}: 1 chain, {args.draws} warm-up + {args.draws} draws per fit, "
          f"{args.reuse_fits} data sets, {os.cpu_count()} cores")
    show_reuse(rates)
    for label, (rate, verdict) in studies.items():
        print(f"  {label:<34} {rate:8.1f} simulations/min  (verdict: {verdict})")


if __name__ == "__main__":
    main()
