"""The DSL against the same models hand-written in NumPyro, measured side by side in one run.

For each model it prints, as ratios DSL / hand-written (gradient time: lower is better;
ESS/s: higher is better; times to first draw: lower is better):
- gradient evaluation time of the log-density (interleaved repetitions, medians);
- NUTS min bulk-ESS per second of sampling (same settings, compilation excluded);
- time from source text to first draw in a fresh process, first with a cold compilation cache
  and again in a new process that may reuse the persistent cache.

    python benchmarks/bench_core.py [--models eight_schools,diamonds,logistic] [--quick]

Absolute times drift on shared machines; compare only the ratios printed by one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
KIT = Path(os.environ.get("PPL_CONFORMANCE_DIR", HERE.parent.parent / "shared" / "conformance"))


def model_data(name: str) -> dict:
    """Data for a benchmark model: the conformance kit's, or simulated with a fixed seed."""
    import numpy as np

    if name == "logistic":
        rng = np.random.default_rng(20261123)
        n, k = 20_000, 50
        x = rng.normal(size=(n, k))
        beta = rng.normal(scale=0.3, size=k)
        p = 1 / (1 + np.exp(-(0.5 + x @ beta)))
        return {"N": n, "K": k, "X": x, "y": (rng.uniform(size=n) < p).astype(np.int64)}
    path = KIT / "data" / f"{name}.json"
    if not path.exists():
        if name == "eight_schools":
            return json.loads((HERE.parent / "examples" / "eight_schools.json").read_text())
        raise SystemExit(f"{path} not found: set PPL_CONFORMANCE_DIR to the conformance kit")
    return json.loads(path.read_text())


def numpyro_args(name: str, data: dict) -> dict:
    import jax.numpy as jnp

    return {k: (jnp.asarray(v) if isinstance(v, list) or hasattr(v, "shape") else v)
            for k, v in data.items()}


def _potentials(name: str, data: dict):
    """(dsl potential, hand potential, dsl init, hand init) on each one's unconstrained space."""
    import jax
    import numpyro
    from numpyro.infer.util import initialize_model

    import ppl
    from benchmarks.handwritten import MODELS

    compiled = ppl.load(HERE / f"{name}.ppl").compile(data)
    info = initialize_model(jax.random.PRNGKey(0), MODELS[name],
                            model_kwargs=numpyro_args(name, data), dynamic_args=False)
    hand_potential = info.potential_fn
    hand_init = info.param_info.z
    flat_init, unravel = jax.flatten_util.ravel_pytree(hand_init)
    del numpyro
    return (lambda u: -compiled.log_density(u), lambda u: hand_potential(unravel(u)),
            compiled.initial_point(jax.random.PRNGKey(1)), flat_init, compiled)


def gradient_ratio(name: str, data: dict, repeats: int = 7, inner: int = 200) -> dict:
    import jax

    dsl, hand, dsl_init, hand_init, _ = _potentials(name, data)
    g_dsl, g_hand = jax.jit(jax.grad(dsl)), jax.jit(jax.grad(hand))
    g_dsl(dsl_init).block_until_ready()
    g_hand(hand_init).block_until_ready()
    times = {"dsl": [], "hand": []}
    for _ in range(repeats):  # interleaved so that load changes hit both alike
        for label, g, x in (("dsl", g_dsl, dsl_init), ("hand", g_hand, hand_init)):
            start = time.perf_counter()
            for _ in range(inner):
                out = g(x)
            out.block_until_ready()
            times[label].append((time.perf_counter() - start) / inner)
    t_dsl, t_hand = statistics.median(times["dsl"]), statistics.median(times["hand"])
    return {"grad_us_dsl": t_dsl * 1e6, "grad_us_hand": t_hand * 1e6, "grad_ratio": t_dsl / t_hand}


def _min_bulk_ess(posterior) -> float:
    import arviz as az
    import numpy as np

    ess = az.ess(posterior, method="bulk")
    return float(min(np.min(np.asarray(ess[v])) for v in ess.data_vars))


def ess_ratio(name: str, data: dict, chains: int, draws: int, warmup: int) -> dict:
    """NUTS with the same settings on both sides; each timed on its second run (compiled)."""
    import jax
    import numpy as np
    from arviz_base import from_dict
    from numpyro.infer import MCMC, NUTS
    from numpyro.infer import NUTS as NumPyroNUTS

    from benchmarks.handwritten import MODELS
    from ppl.backends.base import RunSettings
    from ppl.backends.nuts import _dense, default_chain_method, make_mcmc, run_prepared

    _, _, _, _, compiled = _potentials(name, data)
    dense = _dense("auto", compiled.dimension)
    settings = RunSettings(chains, draws, warmup, seed=0)
    result = {}
    mcmc, _ = make_mcmc(NumPyroNUTS, compiled, settings, max_tree_depth=10)
    run_prepared(mcmc, compiled, 0, chains)  # compile
    start = time.perf_counter()
    run_prepared(mcmc, compiled, 1, chains)
    positions = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(positions)
    result["dsl_seconds"] = time.perf_counter() - start
    draws_dsl = jax.vmap(jax.vmap(compiled.constrain))(positions)
    result["dsl_min_ess"] = _min_bulk_ess(from_dict({"posterior": {
        k: np.asarray(v) for k, v in draws_dsl.items()}})["posterior"].to_dataset())

    kernel = NUTS(MODELS[name], dense_mass=dense, target_accept_prob=0.8, max_tree_depth=10)
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=draws, num_chains=chains,
                chain_method=default_chain_method(chains), progress_bar=False)
    args = numpyro_args(name, data)
    mcmc.run(jax.random.PRNGKey(0), **args)  # compile
    start = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(1), **args)
    samples = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(samples)
    result["hand_seconds"] = time.perf_counter() - start
    hand = from_dict({"posterior": {k: v for k, v in samples.items() if k != "theta"}})
    result["hand_min_ess"] = _min_bulk_ess(hand["posterior"].to_dataset())
    result["ess_per_s_dsl"] = result["dsl_min_ess"] / result["dsl_seconds"]
    result["ess_per_s_hand"] = result["hand_min_ess"] / result["hand_seconds"]
    result["ess_per_s_ratio"] = result["ess_per_s_dsl"] / result["ess_per_s_hand"]
    return result


_FIRST_DRAW = r"""
import time, sys, json
start = time.perf_counter()
which, name, data_path, model_path = sys.argv[1:5]
import jax
if which == "dsl":
    import ppl
    data = json.load(open(data_path))
    fit = ppl.load(model_path).sample(data, chains=1, draws=1, warmup=1, seed=0)
    first = float(fit["posterior"][list(fit["posterior"].data_vars)[0]].values.ravel()[0])
else:
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_compilation_cache_dir", __import__("os").environ["PPL_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    sys.path.insert(0, sys.argv[5])
    from benchmarks.handwritten import MODELS
    from benchmarks.bench_core import numpyro_args
    from numpyro.infer import MCMC, NUTS
    data = json.load(open(data_path))
    mcmc = MCMC(NUTS(MODELS[name], dense_mass=True), num_warmup=1, num_samples=1,
                num_chains=1, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), **numpyro_args(name, data))
    first = float(next(iter(mcmc.get_samples().values())).ravel()[0])
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def first_draw_times(name: str, data: dict) -> dict:
    """Seconds from a fresh interpreter to the first draw, cold cache then warm cache.

    The clock starts at the top of the child script (interpreter start-up itself, the same
    for both, is excluded)."""
    import numpy as np

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_path = Path(tmp) / "data.json"
        data_path.write_text(json.dumps({k: np.asarray(v).tolist() for k, v in data.items()}))
        for which in ("dsl", "hand"):
            env = dict(os.environ, PPL_CACHE_DIR=str(Path(tmp) / f"cache-{which}"))
            for run in ("first", "repeat"):
                proc = subprocess.run(
                    [sys.executable, "-c", _FIRST_DRAW, which, name, str(data_path),
                     str(HERE / f"{name}.ppl"), str(HERE.parent)],
                    env=env, capture_output=True, text=True, check=True)
                out[f"{which}_{run}_s"] = json.loads(proc.stdout.strip().splitlines()[-1])[
                    "seconds"]
    out["first_ratio"] = out["dsl_first_s"] / out["hand_first_s"]
    out["repeat_ratio"] = out["dsl_repeat_s"] / out["hand_repeat_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="eight_schools,diamonds,logistic")
    parser.add_argument("--quick", action="store_true", help="fewer draws (smoke test)")
    parser.add_argument("--skip-ess", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))
    import ppl  # noqa: F401  (double precision for both sides)

    rows = []
    for name in args.models.split(","):
        data = model_data(name)
        row = {"model": name, **gradient_ratio(name, data)}
        if not args.skip_ess:
            draws = 200 if args.quick else (500 if name == "logistic" else 1000)
            row.update(ess_ratio(name, data, chains=4, draws=draws, warmup=draws))
        row.update(first_draw_times(name, data))
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print(f"{'model':<14}{'grad ratio':>11}{'ESS/s ratio':>13}{'first draw s':>20}"
          f"{'first ratio':>12}{'repeat s':>18}{'repeat ratio':>13}")
    for r in rows:
        ess = f"{r['ess_per_s_ratio']:.2f}" if "ess_per_s_ratio" in r else "-"
        print(f"{r['model']:<14}{r['grad_ratio']:>11.2f}{ess:>13}"
              f"{r['dsl_first_s']:>9.1f} vs {r['hand_first_s']:>5.1f}{r['first_ratio']:>12.2f}"
              f"{r['dsl_repeat_s']:>8.1f} vs {r['hand_repeat_s']:>5.1f}{r['repeat_ratio']:>13.2f}")


if __name__ == "__main__":
    main()
