"""Data-distributed MCMC on a logistic regression: the ``consensus`` and ``split_gibbs``
backends against full-data NUTS, as the number of shards grows.

    python benchmarks/bench_distributed.py [--n 200000,2000000] [--d 5] [--shards 1,2,4]
        [--backends consensus,split_gibbs] [--cluster local|none|tcp://host:8786]
        [--workers 2] [--chains 4] [--draws 1000] [--warmup 1000] [--seed 0]

The data are simulated (standard normal covariates, coefficients 0.5, -0.25, ...). For each N
the full-data NUTS fit is the reference; each distributed fit reports the largest error of a
posterior mean and of a posterior sd over the parameters, in reference posterior sds (the
NUTS reference has its own Monte Carlo error: about 0.03 sd for means with 4 x 1000 draws), and
the wall time of the fit (the cluster is started once, before the first fit, and its start-up
is reported apart; compilation on the workers is included in every fit's time, since each run
of the backend binds the shards afresh). A script that starts a local Dask cluster needs the
``if __name__ == "__main__":`` guard below (its workers import it).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

import ppl

MODEL = """
data N: int
data D: int
data X: matrix[N, D]
data y: int[N]
alpha ~ normal(0, 2)
beta: vector[D] ~ normal(0, 2)
y ~ bernoulli_logit(alpha + X * beta)
"""


def simulate(n: int, d: int, seed: int) -> dict:
    """A logistic regression data set of ``n`` rows and ``d`` covariates."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    beta = 0.5 * (-0.5) ** np.arange(d)
    p = 1 / (1 + np.exp(-(0.2 + x @ beta)))
    return {"N": n, "D": d, "X": x, "y": (rng.uniform(size=n) < p).astype(np.int64)}


def draws_of(fit) -> np.ndarray:
    """(draws, parameters): alpha, then beta."""
    alpha = np.asarray(fit.posterior["alpha"]).reshape(-1, 1)
    beta = np.asarray(fit.posterior["beta"]).reshape(alpha.shape[0], -1)
    return np.hstack([alpha, beta])


def errors(fit, reference: np.ndarray) -> tuple[float, float]:
    """Largest |mean error| and |sd error| over the parameters, in reference sds."""
    draws = draws_of(fit)
    sd = reference.std(axis=0)
    return (float(np.max(np.abs(draws.mean(axis=0) - reference.mean(axis=0)) / sd)),
            float(np.max(np.abs(draws.std(axis=0) - sd) / sd)))


def timed(function, *args, **kwargs):
    """``function(*args, **kwargs)`` and its wall time in seconds, warnings silenced."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="200000,2000000")
    parser.add_argument("--d", type=int, default=5)
    parser.add_argument("--shards", default="1,2,4")
    parser.add_argument("--backends", default="consensus,split_gibbs")
    parser.add_argument("--cluster", default="local")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    settings = {"chains": args.chains, "draws": args.draws, "warmup": args.warmup,
                "seed": args.seed}
    model = ppl.model(MODEL)
    cluster = None if args.cluster == "none" else args.cluster
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; chains x draws "
          f"{args.chains} x {args.draws}, warm-up {args.warmup}, D = {args.d}")
    from contextlib import nullcontext

    from ppl.cluster import dask_client

    context = nullcontext(None) if cluster is None else dask_client(cluster, args.workers)
    client, started = timed(context.__enter__)
    if client is not None:
        print(f"cluster: {len(client.scheduler_info()['workers'])} workers, started in "
              f"{started:.1f} s")
    print("| N | backend | shards | mean error (sd) | sd error (sd) | wall time (s) |")
    print("|---|---|---|---|---|---|")
    try:
        for n in (int(float(v)) for v in args.n.split(",")):
            data = simulate(n, args.d, args.seed)
            full, seconds = timed(model.sample, data, **settings)
            reference = draws_of(full)
            print(f"| {n} | nuts (full data) | - | - | - | {seconds:.1f} |", flush=True)
            for backend in args.backends.split(","):
                for shards in (int(s) for s in args.shards.split(",")):
                    fit, seconds = timed(model.sample, data, backend=backend, shards=shards,
                                         cluster=client, **settings)
                    mean_error, sd_error = errors(fit, reference)
                    print(f"| {n} | {backend} | {shards} | {mean_error:.3f} | {sd_error:.3f} | "
                          f"{seconds:.1f} |", flush=True)
    finally:
        context.__exit__(None, None, None)


if __name__ == "__main__":
    main()
