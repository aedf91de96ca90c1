"""How to run several NUTS chains on this machine: vectorised, sequential or parallel.

Runs the same model with each chain method (parallel uses one CPU device per chain, via XLA's
host device count, set before JAX starts) after a warm-up pass that fills the compilation cache
for all three, and prints wall time and min bulk ESS per second, relative to vectorised.

    python benchmarks/chains.py [--model eight_schools|diamonds] [--chains 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="eight_schools")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_force_host_platform_device_count={args.chains}")
    sys.path.insert(0, str(HERE.parent))
    import arviz as az
    import numpy as np

    import ppl
    from benchmarks.bench_core import model_data

    model = ppl.load(HERE / f"{args.model}.ppl")
    data = model_data(args.model)
    for method in ("vectorized", "sequential", "parallel"):  # warm the compilation cache
        model.sample(data, chains=args.chains, draws=10, warmup=10, seed=0, chain_method=method)
    results = {}
    for method in ("vectorized", "sequential", "parallel"):
        start = time.perf_counter()
        fit = model.sample(data, chains=args.chains, draws=args.draws, warmup=args.draws,
                           seed=0, chain_method=method)
        seconds = time.perf_counter() - start
        ess = az.ess(fit["posterior"].to_dataset(), method="bulk")
        min_ess = float(min(np.min(np.asarray(ess[v])) for v in ess.data_vars))
        results[method] = (seconds, min_ess / seconds)
        print(f"{method:<11} {seconds:7.1f} s   min bulk ESS/s {min_ess / seconds:8.1f}",
              flush=True)
    base = results["vectorized"]
    print("relative to vectorized (time, ESS/s):",
          {m: (round(t / base[0], 2), round(e / base[1], 2)) for m, (t, e) in results.items()})


if __name__ == "__main__":
    main()
