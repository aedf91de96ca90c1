"""Data-distributed MCMC on a logistic regression: the ``consensus`` and ``split_gibbs``
backends against full-data NUTS, as the number of observations and of shards grows.

    python benchmarks/bench_distributed.py [--sizes 2e5,5e5,1e6,2e6] [--d 10] [--shards 2,4,8]
        [--backends consensus,split_gibbs] [--cluster local|none|tcp://host:8786]
        [--workers 2] [--chains 2] [--draws 500] [--warmup 500] [--reference-draws 500]
        [--noise-floor all|none|2e5,...] [--repeats 1] [--seed 0] [--json results.json]

    # quick: python benchmarks/bench_distributed.py --sizes 2e4 --shards 2 --draws 200

The data are ``benchmarks.bench_core.logistic_data`` (standard normal covariates, the model of
``benchmarks/logistic.ppl``), D covariates plus an intercept. For each N, full-data NUTS (in
this process) is the reference, and a second full-data NUTS run with the next seed is the
*noise floor*: its errors against the reference are what Monte Carlo error alone gives. Every
fit reports the largest error of a posterior mean and of a posterior sd over the parameters,
in the reference's posterior sds, its wall time, the ratio of that to the reference NUTS fit's,
and the 1-minute load average after it (the machine may be shared). The Dask cluster is
started once, before the first fit, and its start-up is reported apart; the workers'
compilation is in every distributed fit's time (each run binds its shards afresh).

``--repeats R`` runs every distributed fit R times (seeds ``seed + 1 + r``, so none shares the
reference's) and adds a table that separates bias from noise: the signed error of each
parameter's mean, averaged over the repeats, with its standard error from their spread; an
average more than 3 standard errors from 0 that does not shrink with R is a bias of the
method (or of the reference: use ``--reference-draws`` to make its own error small).

A script that starts a local Dask cluster needs the ``if __name__ == "__main__":`` guard below
(its workers import it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import ppl  # noqa: E402
from benchmarks.bench_core import logistic_data  # noqa: E402


def draws_of(fit) -> np.ndarray:
    """(draws, parameters): alpha, then beta."""
    alpha = np.asarray(fit.posterior["alpha"]).reshape(-1, 1)
    beta = np.asarray(fit.posterior["beta"]).reshape(alpha.shape[0], -1)
    return np.hstack([alpha, beta])


def signed_errors(draws: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each parameter's (mean error, sd error), signed, in reference posterior sds."""
    sd = reference.std(axis=0)
    return ((draws.mean(axis=0) - reference.mean(axis=0)) / sd, (draws.std(axis=0) - sd) / sd)


def largest(errors: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """The largest |mean error| and |sd error| over the parameters."""
    return float(np.max(np.abs(errors[0]))), float(np.max(np.abs(errors[1])))


def timed(function, *args, **kwargs):
    """``function(*args, **kwargs)`` and its wall time in seconds, warnings silenced."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def row(cells) -> str:
    """A markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def bias_table(records: list[dict]) -> list[str]:
    """Per (N, backend, shards) with repeats: the largest |average signed mean error| over the
    parameters, its standard error, and the largest |average| / standard error."""
    lines = [row(["N", "backend", "shards", "repeats", "largest |avg mean error| (sd)",
                  "its s.e.", "largest |avg| / s.e.", "avg of single-run largest"]),
             row(["---"] * 8)]
    keys = sorted({(r["N"], r["backend"], r["shards"]) for r in records
                   if r["backend"] != "nuts"}, key=lambda k: (k[0], k[1], k[2]))
    for n, backend, shards in keys:
        runs = [r for r in records if (r["N"], r["backend"], r["shards"]) == (n, backend, shards)]
        if len(runs) < 2:
            continue
        errors = np.array([r["mean_errors"] for r in runs])
        average, se = errors.mean(axis=0), errors.std(axis=0, ddof=1) / np.sqrt(len(runs))
        worst = int(np.argmax(np.abs(average)))
        lines.append(row([n, backend, shards, len(runs), f"{abs(average[worst]):.3f}",
                          f"{se[worst]:.3f}", f"{np.max(np.abs(average) / se):.1f}",
                          f"{np.mean([r['mean_error'] for r in runs]):.3f}"]))
    return lines


def weight_noise_check(n: int, d: int, shards: int, draws: int, long_draws: int, chains: int,
                       seeds: range) -> list[str]:
    """Where consensus Monte Carlo's mean error comes from: each seed's shard draws (``draws``
    per chain) combined with the weights estimated from those draws (what the backend does),
    and the same draws combined with weights from a long run (``long_draws`` per chain) of the
    same shards. Errors in posterior sds of a long full-data NUTS run (this process, no
    cluster): if they fall with the better weights, the error is the weights' estimation noise;
    if they stay, a bias of the Gaussian combination or plain Monte Carlo error."""
    from ppl.backends.consensus import consensus_draws, consensus_weights
    from ppl.backends.distributed import shard_tasks
    from ppl.backends.shard_worker import local_model, run_shard
    from ppl.backends.sharding import plan_shards

    model = ppl.load(HERE / "logistic.ppl")
    data, _ = logistic_data(n=n, k=d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = draws_of(model.sample(data, chains=chains, draws=long_draws, seed=0))
        compiled = model.compile(data)
        plan = plan_shards(compiled, shards)
        source = local_model(compiled.graph.source.text, compiled.graph.source.name,
                             compiled.programs)

        def shard_draws(seed: int, count: int) -> list[np.ndarray]:
            tasks = shard_tasks(compiled, plan, seed, chains=chains, warmup=500, draws=count,
                                options={"target_accept": 0.8})
            return [run_shard(task, source)["z"] for task in tasks]

        def flat(positions: np.ndarray) -> np.ndarray:
            return positions.reshape(-1, positions.shape[-1])

        long_run = shard_draws(1000, long_draws)
        long_weights = consensus_weights(long_run)
        lines = [row(["seed", "own weights: largest mean error (sd)",
                      "long-run weights: largest mean error (sd)"]), row(["---"] * 3)]
        for seed in seeds:
            short = shard_draws(seed, draws)
            own = flat(consensus_draws(short))
            total = np.sum(long_weights, axis=0)
            better = np.linalg.solve(total, sum(
                w @ flat(z).T for w, z in zip(long_weights, short, strict=True))).T
            lines.append(row([seed] + [f"{largest(signed_errors(x, reference))[0]:.3f}"
                                       for x in (own, better)]))
        # The long run itself: its Monte Carlo error is small, so what is left is the bias.
        errors = signed_errors(flat(consensus_draws(long_run)), reference)[0]
        lines.append(f"\nthe long run ({chains} x {long_draws} draws per shard) combined: mean "
                     f"errors {np.array2string(errors, precision=3)} (sd)")
    return lines


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2e5,5e5,1e6,2e6")
    parser.add_argument("--d", type=int, default=10)
    parser.add_argument("--shards", default="2,4,8")
    parser.add_argument("--backends", default="consensus,split_gibbs")
    parser.add_argument("--cluster", default="local")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--reference-draws", type=int, default=None,
                        help="draws of the full-data NUTS fits (default: --draws)")
    parser.add_argument("--noise-floor", default="all",
                        help="the sizes (or 'all', 'none') with a second full-data NUTS fit")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write every fit's errors here")
    parser.add_argument("--weights-check", action="store_true",
                        help="only weight_noise_check at the first size and the last shards "
                             "(--draws, --reference-draws as the long runs, --repeats seeds)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.weights_check:
        print("\n".join(weight_noise_check(
            int(float(args.sizes.split(",")[0])), args.d, int(args.shards.split(",")[-1]),
            args.draws, args.reference_draws or 4 * args.draws, args.chains,
            range(args.seed + 1, args.seed + 1 + args.repeats))))
        return
    settings = {"chains": args.chains, "draws": args.draws, "warmup": args.warmup}
    reference_settings = {**settings, "draws": args.reference_draws or args.draws}
    model = ppl.load(HERE / "logistic.ppl")
    cluster = None if args.cluster == "none" else args.cluster
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; D = {args.d}; "
          f"chains x draws {args.chains} x {args.draws} (NUTS reference "
          f"{args.chains} x {reference_settings['draws']}), warm-up {args.warmup}")
    from ppl.cluster import dask_client

    context = nullcontext(None) if cluster is None else dask_client(cluster, args.workers)
    client, started = timed(context.__enter__)
    if client is not None:
        print(f"cluster: {len(client.scheduler_info()['workers'])} workers, started in "
              f"{started:.1f} s")
    print(row(["N", "backend", "shards", "seed", "mean error (sd)", "sd error (sd)",
               "wall time (s)", "time / NUTS", "load"]))
    print(row(["---"] * 9), flush=True)
    records: list[dict] = []

    def record(n, backend, shards, seed, errors, seconds, nuts_seconds):
        mean_error, sd_error = largest(errors)
        records.append({"N": n, "backend": backend, "shards": shards, "seed": seed,
                        "mean_error": mean_error, "sd_error": sd_error, "seconds": seconds,
                        "mean_errors": errors[0].tolist(), "sd_errors": errors[1].tolist(),
                        "load": os.getloadavg()[0]})
        print(row([n, backend, shards, seed, f"{mean_error:.3f}", f"{sd_error:.3f}",
                   f"{seconds:.1f}", f"{seconds / nuts_seconds:.2f}",
                   f"{os.getloadavg()[0]:.1f}"]), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(records, indent=1))

    floors = ({int(float(v)) for v in args.noise_floor.split(",")}
              if args.noise_floor not in ("all", "none") else set())
    try:
        for n in (int(float(v)) for v in args.sizes.split(",")):
            data, _ = logistic_data(n=n, k=args.d)
            full, nuts_seconds = timed(model.sample, data, seed=args.seed, **reference_settings)
            reference = draws_of(full)
            print(row([n, "nuts (full data): reference", "-", args.seed, "-", "-",
                       f"{nuts_seconds:.1f}", "1.00", f"{os.getloadavg()[0]:.1f}"]), flush=True)
            if args.noise_floor == "all" or n in floors:
                again, seconds = timed(model.sample, data, seed=args.seed + 1,
                                       **reference_settings)
                record(n, "nuts (full data): noise floor", "-", args.seed + 1,
                       signed_errors(draws_of(again), reference), seconds, nuts_seconds)
            for backend in args.backends.split(","):
                for shards in (int(s) for s in args.shards.split(",")):
                    for r in range(args.repeats):
                        seed = args.seed + 1 + r
                        fit, seconds = timed(model.sample, data, backend=backend,
                                             shards=shards, cluster=client, seed=seed,
                                             **settings)
                        record(n, backend, shards, seed,
                               signed_errors(draws_of(fit), reference), seconds, nuts_seconds)
        if args.repeats > 1:
            print("\n" + "\n".join(bias_table(records)))
    finally:
        context.__exit__(None, None, None)


if __name__ == "__main__":
    main()
