"""GPSS (Gibbsian polar slice sampling) against NUTS on the conformance posteriors.

For each selected posterior it fits the conformance model with ``backend="gpss"`` and
``backend="nuts"`` (default options, the same chains, draws, warm-up and seed), each twice,
and reports from the second fit (so that compilation is excluded):

- the smallest bulk ESS (ArviZ) over the kit's reference parameters;
- that ESS per log-density evaluation of the kept draws: GPSS's ``n_evals``, NUTS's leapfrog
  steps ``n_steps`` (one gradient each, which costs more than a log density: a gradient counts
  as one evaluation here, which favours NUTS);
- that ESS per second of the whole fit (warm-up included);
- whether the draws match the reference: the largest ``|z|`` over the reference means,
  ``z = (mean - ref mean) / sqrt(mcse^2 + ref mcse^2)`` as the kit's ``check.py`` computes it
  (with ArviZ's MCSE), and the largest ``|sd / ref sd - 1|``; a fit passes with ``|z| < 5``
  and the sds within 15 %.

    python benchmarks/bench_gpss.py [--models kidiq,earnings] [--chains 4] [--draws 1000]
        [--warmup 1000] [--seed 1]

``--models`` takes posterior names or parts of them (as ``bench_conformance.py``). The kit is
read from ``$PPL_CONFORMANCE_DIR`` or ``../shared/conformance``. Timings drift on shared
machines: compare the two samplers within one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(HERE.parent))

from benchmarks.bench_conformance import load_case, markdown_table, select  # noqa: E402
from benchmarks.bench_core import KIT  # noqa: E402

# Small posteriors of several kinds, for a modest default run on a shared machine.
DEFAULT_MODELS = ("kidiq-kidscore_momiq,earnings-logearn_height,mesquite-logmesquite,"
                  "eight_schools-eight_schools_noncentered,garch-garch11,arK-arK")
Z_LIMIT, SD_TOLERANCE = 5.0, 0.15


def reference(case) -> dict:
    """The kit's reference means, sds and MCSEs of ``case``, by Stan-style name."""
    path = KIT / "posteriors" / case.posterior / "reference.json"
    return json.loads(path.read_text())["params"]


def accuracy(fit, ref: dict) -> tuple[float, float, float]:
    """The largest ``|z|`` of the means, the largest relative sd error, and the smallest bulk
    ESS over the reference parameters."""
    import arviz as az

    from benchmarks.bench_core import stan_names

    values = stan_names({name: np.asarray(fit.posterior[name]) for name in fit.posterior.data_vars})
    z_max = sd_max = 0.0
    ess_min = np.inf
    for name, r in ref.items():
        draws = np.asarray(values[name], dtype=float)
        mcse = float(az.mcse(draws, method="mean"))
        z = (draws.mean() - r["mean"]) / np.sqrt(mcse**2 + r.get("mcse_mean", 0.0) ** 2)
        z_max = max(z_max, abs(float(z)))
        sd_max = max(sd_max, abs(draws.std(ddof=1) / r["sd"] - 1))
        ess_min = min(ess_min, float(az.ess(draws, method="bulk")))
    return z_max, sd_max, ess_min


def fit_twice(model, data: dict, backend: str, chains: int, draws: int, warmup: int,
              seed: int, var_names: list[str]):
    """The second of two identical fits and its wall time; ``var_names`` are recorded (a
    reference may check a deterministic the recording rule leaves out)."""
    run = dict(backend=backend, chains=chains, draws=draws, warmup=warmup, seed=seed,
               var_names=var_names)
    model.sample(data, **run)
    began = time.perf_counter()
    fit = model.sample(data, **run)
    return fit, time.perf_counter() - began


def measure(name: str, chains: int, draws: int, warmup: int, seed: int) -> list[dict]:
    """One row per sampler for posterior ``name``; a failure is recorded in the row."""
    import ppl

    case = load_case(name)
    ref = reference(case)
    rows = []
    for backend, counter in (("gpss", "n_evals"), ("nuts", "n_steps")):
        row: dict = {"model": name, "backend": backend}
        try:
            model = ppl.load(case.model_path)
            names = sorted({name.partition("[")[0] for name in ref})
            fit, seconds = fit_twice(model, case.data, backend, chains, draws, warmup, seed,
                                     names)
            z_max, sd_max, ess = accuracy(fit, ref)
            evaluations = float(np.sum(np.asarray(fit.sample_stats[counter])))
            row.update(dimension=int(model.compile(case.data).dimension), min_ess=ess,
                       evals_per_draw=evaluations / (chains * draws),
                       ess_per_1k_evals=1000 * ess / evaluations, ess_per_s=ess / seconds,
                       seconds=seconds, max_abs_z=z_max, max_sd_error=sd_max,
                       matches=bool(z_max < Z_LIMIT and sd_max < SD_TOLERANCE))
        except Exception as exc:  # one model's failure must not stop the table
            row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table (``-`` where a measurement failed)."""
    columns = [("posterior", "model", None), ("d", "dimension", "d"), ("sampler", "backend", None),
               ("min bulk ESS", "min_ess", ".0f"), ("evals/draw", "evals_per_draw", ".1f"),
               ("ESS / 1000 evals", "ess_per_1k_evals", ".1f"), ("ESS/s", "ess_per_s", ".1f"),
               ("s", "seconds", ".1f"), ("max abs z", "max_abs_z", ".2f"),
               ("max sd err", "max_sd_error", ".3f"), ("matches", "matches", None)]
    return markdown_table(rows, columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT_MODELS,
                        help="comma-separated selection (default: six small posteriors)")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not (KIT / "posteriors").is_dir():
        raise SystemExit(f"conformance kit not found at {KIT}: set PPL_CONFORMANCE_DIR")
    import jax

    warnings.filterwarnings("ignore")  # the kit's unused data entries, short-run diagnostics
    rows = []
    for name in select(args.models):
        for row in measure(name, args.chains, args.draws, args.warmup, args.seed):
            rows.append(row)
            print(json.dumps(row), flush=True)
        jax.clear_caches()
    print()
    print(f"{args.chains} chains x {args.draws} draws ({args.warmup} warm-up), seed {args.seed}")
    print(table(rows))


if __name__ == "__main__":
    main()
