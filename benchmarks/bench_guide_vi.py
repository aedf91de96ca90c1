"""Guides against Gaussian families on the centred eight schools (examples/eight_schools.json):
the ELBO (mean log-weight of 4000 draws of q, with its Monte Carlo standard error), the PSIS
Pareto k of the log-weights, the posterior mean of tau, and the wall time of each fit (the
first fit of a process includes compilation; run it twice to see the warm times).

    python benchmarks/bench_guide_vi.py [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np

import ppl

ROOT = Path(__file__).resolve().parents[1]
CENTRED = """
data J: int >= 1
data y: real[J]
data sigma: real[J] > 0
mu ~ normal(0, 5)
tau ~ half_cauchy(5)
theta: vector[J] ~ normal(mu, tau)
y ~ normal(theta, sigma)
"""
MEANFIELD = """
param mu_loc: real
param mu_scale: real > 0
param tau_loc: real
param tau_scale: real > 0
param m: vector[J]
param s: vector[J] > 0
mu ~ normal(mu_loc, mu_scale)
tau ~ lognormal(tau_loc, tau_scale)
theta ~ normal(m, s)
"""
STRUCTURED = MEANFIELD.replace("theta ~ normal(m, s)", "theta ~ normal(mu + tau * m, tau * s)")
RUNS = {
    "advi meanfield": {"backend": "advi", "family": "meanfield"},
    "advi fullrank": {"backend": "advi", "family": "fullrank"},
    "vi mean-field guide": {"backend": "vi", "guide": MEANFIELD},
    "vi structured guide": {"backend": "vi", "guide": STRUCTURED},
    "vi structured, iwelbo": {"backend": "vi", "guide": STRUCTURED, "objective": "iwelbo"},
    "vi structured, forward_kl": {"backend": "vi", "guide": STRUCTURED,
                                  "objective": "forward_kl"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    data = json.loads((ROOT / "examples" / "eight_schools.json").read_text())
    model = ppl.model(CENTRED)
    print(f"{'run':<28} {'ELBO':>8} {'(se)':>6} {'k':>6} {'E tau':>6} {'s':>6}")
    for name, options in RUNS.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = model.sample(data, draws=1000, seed=args.seed, **options)
        seconds = time.perf_counter() - start
        log_w = np.asarray(fit["sample_stats"]["log_weight"]).ravel()
        se = log_w.std() / math.sqrt(len(log_w))
        tau = float(np.asarray(fit.posterior["tau"]).mean())
        k = float(fit.attrs["vi_pareto_k"])
        print(f"{name:<28} {log_w.mean():8.2f} {se:6.2f} {k:6.2f} "
              f"{tau:6.2f} {seconds:6.1f}")


if __name__ == "__main__":
    main()
