"""The DSL against the same models hand-written in NumPyro, measured side by side in one run.

For each model it prints, as ratios DSL / hand-written (gradient time: lower is better;
ESS/s: higher is better; times to first draw: lower is better):
- gradient evaluation time of the log-density (interleaved repetitions, medians);
- NUTS min bulk-ESS per second of sampling (same settings, compilation excluded);
- time from source text to first draw in a fresh process, first with a cold compilation cache
  and again in a new process that may reuse the persistent cache.

    python benchmarks/bench_core.py [--models eight_schools,diamonds,logistic] [--quick]

Absolute times drift on shared machines; compare only the ratios printed by one run.

The measuring functions (:func:`hand_kwargs`, :func:`nuts_ess_comparison`,
:func:`first_draw_times`, ...) are shared with ``bench_conformance.py``.
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
KIT = Path(os.environ.get("PPL_CONFORMANCE_DIR") or HERE.parent.parent / "shared" / "conformance")
# The kit's regression posteriors (badly scaled, correlated coefficients): where the
# approximate backends are compared (bench_pathfinder.py) and checked
# (tests/conformance/test_backends_conformance.py).
REGRESSION_POSTERIORS = (
    "kidiq-kidscore_momiq",
    "kidiq-kidscore_interaction",
    "earnings-logearn_height",
    "earnings-logearn_interaction_z",
    "mesquite-logmesquite",
    "nes1972-nes",
    "sblrc-blr",
    "kilpisjarvi_mod-kilpisjarvi",
)


def byte_compile_checkout() -> None:
    """Compile this checkout's modules (ppl and the benchmarks) to bytecode, as pip does when
    it installs a package. An editable install is not compiled, and where
    PYTHONDONTWRITEBYTECODE is set (the machines these benchmarks ran on) no process writes
    bytecode: each fresh process would compile ppl's source again (0.1-0.15 s of each first
    draw and import), while the NumPyro it is compared with came compiled by pip. Called
    before fresh processes are timed; a file changed later is compiled again by Python."""
    import compileall

    for package in ("ppl", "benchmarks"):
        compileall.compile_dir(HERE.parent / package, quiet=1)


def model_data(name: str) -> dict:
    """Data for a benchmark model: the conformance kit's, or simulated with a fixed seed."""
    if name == "logistic":
        return logistic_data()[0]
    path = KIT / "data" / f"{name}.json"
    if not path.exists():
        if name == "eight_schools":
            return json.loads((HERE.parent / "examples" / "eight_schools.json").read_text())
        raise SystemExit(f"{path} not found: set PPL_CONFORMANCE_DIR to the conformance kit")
    return json.loads(path.read_text())


def logistic_data(n: int = 20_000, k: int = 50, seed: int = 20261123) -> tuple[dict, dict]:
    """The synthetic logistic regression (``logistic.ppl``): data ``{N, K, X, y}`` with
    standard normal predictors, and the true coefficients ``{alpha: 0.5, beta: (k,)}`` they
    were simulated from (a fixed seed, so every process simulates the same data)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, k))
    beta = rng.normal(scale=0.3, size=k)
    p = 1 / (1 + np.exp(-(0.5 + x @ beta)))
    data = {"N": n, "K": k, "X": x, "y": (rng.uniform(size=n) < p).astype(np.int64)}
    return data, {"alpha": np.float64(0.5), "beta": beta}


def hand_kwargs(model_fn: Callable, data: Mapping) -> dict:
    """The keyword arguments of a hand-written NumPyro model: the data entries it names in its
    signature (a data file may hold entries a model does not use), lists as JAX arrays."""
    import inspect

    import jax.numpy as jnp

    wanted = inspect.signature(model_fn).parameters
    return {k: (jnp.asarray(v) if isinstance(v, list) or hasattr(v, "shape") else v)
            for k, v in data.items() if k in wanted}


def potentials(compiled, hand_model: Callable, data: Mapping):
    """(dsl potential, hand potential, dsl init, hand init) on each one's unconstrained space."""
    import jax
    from numpyro.infer.util import initialize_model

    info = initialize_model(jax.random.PRNGKey(0), hand_model,
                            model_kwargs=hand_kwargs(hand_model, data), dynamic_args=False)
    hand_potential = info.potential_fn
    flat_init, unravel = jax.flatten_util.ravel_pytree(info.param_info.z)
    return (lambda u: -compiled.log_density(u), lambda u: hand_potential(unravel(u)),
            compiled.initial_point(jax.random.PRNGKey(1)), flat_init)


def gradient_ratio(name: str, data: dict, repeats: int = 7, inner: int = 200) -> dict:
    """Median time of one log-density gradient, DSL and hand-written, and their ratio."""
    import ppl
    from benchmarks.handwritten import MODELS

    compiled = ppl.load(HERE / f"{name}.ppl").compile(data)
    return gradient_times(*potentials(compiled, MODELS[name], data), repeats, inner)


def gradient_times(dsl, hand, dsl_init, hand_init, repeats: int = 7, inner: int = 200) -> dict:
    """Median time of one gradient of each potential, interleaved, and their ratio."""
    import jax

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


def stan_names(values: Mapping) -> dict:
    """``{name: (chains, draws, *shape)}`` -> Stan-style flattened scalar names (``beta[1]``,
    ``L[2,1]``, 1-based, as in the conformance kit) -> (chains, draws) NumPy arrays."""
    import numpy as np

    out = {}
    for name, array in values.items():
        array = np.asarray(array)
        event = array.shape[2:]
        for idx in np.ndindex(*event) if event else [()]:
            label = name if not idx else f"{name}[{','.join(str(i + 1) for i in idx)}]"
            out[label] = array[(slice(None), slice(None)) + idx]
    return out


def min_bulk_ess(values: Mapping, names: Iterable[str]) -> float:
    """The smallest bulk ESS (ArviZ, rank-normalised) over the scalar ``names`` (Stan-style)
    of ``values`` (``{name: (chains, draws, *shape)}``)."""
    import arviz as az

    flat = stan_names(values)
    missing = [n for n in names if n not in flat]
    if missing:
        raise KeyError(f"no draws for {', '.join(missing)} (have {', '.join(flat)})")
    return min(float(az.ess(flat[n], method="bulk")) for n in names)


def time_dsl_nuts(compiled, chains: int, draws: int, warmup: int, init: str = "auto",
                  seeds: Sequence[int] = (1,), starts: Mapping | None = None
                  ) -> list[tuple[float, dict]]:
    """For each of ``seeds``, seconds of a DSL NUTS run through ppl's own chain driver (after
    a first run with seed 0, so compilation is excluded; starting points ``init``, the
    backend's default, are found before the clock starts, or taken from ``starts[seed]``, a
    ``(key, points)`` pair of ``ppl.backends.nuts.starting_state``) and its draws of every
    latent and deterministic quantity, (chains, draws, ...)."""
    import jax
    import numpy as np

    from ppl.backends.hmc_chains import run_chains
    from ppl.backends.nuts import default_chain_method, kernel_config, starting_state

    config = kernel_config("NUTS", compiled, {"max_tree_depth": 10})
    method = default_chain_method(chains)

    def run(key, inits):
        return run_chains(compiled.jitted_log_density, config,
                          np.reshape(inits, (chains, -1)), key, warmup, draws, method)

    run(*starting_state(compiled, 0, chains, init))  # compile
    # Deterministic quantities are computed from the draws afterwards, as ppl.sample does.
    generated = jax.jit(jax.vmap(jax.vmap(compiled.generated)))
    runs = []
    for seed in seeds:
        key, inits = starts[seed] if starts else starting_state(compiled, seed, chains, init)
        start = time.perf_counter()
        positions = run(key, inits).draws["z"]
        runs.append((time.perf_counter() - start, generated(positions)))
    return runs


def dsl_start(compiled, seed: int, chains: int, init: str = "auto",
              state: tuple | None = None) -> tuple:
    """The random key and initial points of the DSL's NUTS run with ``seed`` (or ``state``,
    the ``(key, points)`` that ``ppl.backends.nuts.starting_state`` gave for it), the points as
    NumPyro sites ``{name: (chains, ...) unconstrained values}`` (hand-written models whose site
    names and unconstrained shapes are the DSL's, as tests/test_bench_conformance.py checks)."""
    from ppl.backends.nuts import starting_state

    run_key, inits = state or starting_state(compiled, seed, chains, init)
    inits = inits if chains > 1 else inits[None]
    sites = {b.name: inits[:, b.offset:b.offset + b.size].reshape(
        (chains,) + tuple(b.unconstrained_shape)) for b in compiled.blocks}
    return run_key, sites if chains > 1 else {k: v[0] for k, v in sites.items()}


def time_hand_nuts(model_fn: Callable, kwargs: Mapping, dense: bool, chains: int, draws: int,
                   warmup: int, start: Callable | None = None, seeds: Sequence[int] = (1,)
                   ) -> list[tuple[float, dict]]:
    """For each of ``seeds``, seconds of a hand-written NumPyro NUTS run (after a first run
    with seed 0, so compilation is excluded) with the DSL's settings, and its draws,
    (chains, draws, ...) per sample or deterministic site. ``start(seed)`` gives each run's
    (key, init_params); default: NumPyro's own."""
    import jax
    from numpyro.infer import MCMC, NUTS

    from ppl.backends.nuts import default_chain_method

    kernel = NUTS(model_fn, dense_mass=dense, target_accept_prob=0.8, max_tree_depth=10)
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=draws, num_chains=chains,
                chain_method=default_chain_method(chains), progress_bar=False)

    def run(seed: int) -> float:
        """Seconds of the run with ``seed``, its starting points found before the clock."""
        key, init_params = (jax.random.PRNGKey(seed), None) if start is None else start(seed)
        began = time.perf_counter()
        mcmc.run(key, init_params=init_params, **kwargs)
        jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
        return time.perf_counter() - began

    run(0)  # compile
    return [(run(seed), mcmc.get_samples(group_by_chain=True)) for seed in seeds]


def nuts_ess_comparison(compiled, model_fn: Callable, kwargs: Mapping, chains: int, draws: int,
                        warmup: int, names: Iterable[str] | None = None,
                        same_start: bool = False, seeds: Sequence[int] = (1,)) -> dict:
    """NUTS on the compiled DSL model and on the hand-written ``model_fn`` with the same
    settings (chains, draws, warmup, target acceptance, tree depth, mass matrix), each timed on
    compiled runs with each of ``seeds``; min bulk ESS over the Stan-style scalar ``names``
    (default: every latent of the DSL model) per second of sampling, and the ratio DSL / hand.
    ``same_start``: the hand-written run starts from the DSL run's points with its random key,
    so that the comparison is of the two implementations of one density, not of two warmups'
    luck (a chain whose adaptation ends with a tiny step size can cost several times the run).
    With several seeds the result is the run with the median ratio, and ``ess_per_s_ratios``
    holds every seed's."""
    from ppl.backends.nuts import dense_metric, starting_state

    dense = dense_metric("auto", compiled.dimension)
    # Each seed's starting points (the default init's climbs) are found once, for both sides.
    states = {seed: starting_state(compiled, seed, chains) for seed in seeds}
    dsl_runs = time_dsl_nuts(compiled, chains, draws, warmup, seeds=seeds, starts=states)
    if names is None:
        names = list(stan_names({k: dsl_runs[0][1][k] for k in compiled.latent_names}))
    names = list(names)
    start = (lambda seed: dsl_start(compiled, seed, chains, state=states.get(seed))) \
        if same_start else None
    hand_runs = time_hand_nuts(model_fn, kwargs, dense, chains, draws, warmup, start, seeds)
    results = []
    for (dsl_seconds, dsl_values), (hand_seconds, hand_values) in zip(dsl_runs, hand_runs,
                                                                      strict=True):
        result = {"dsl_seconds": dsl_seconds, "dsl_min_ess": min_bulk_ess(dsl_values, names),
                  "hand_seconds": hand_seconds,
                  "hand_min_ess": min_bulk_ess(hand_values, names)}
        result["ess_per_s_dsl"] = result["dsl_min_ess"] / dsl_seconds
        result["ess_per_s_hand"] = result["hand_min_ess"] / hand_seconds
        result["ess_per_s_ratio"] = result["ess_per_s_dsl"] / result["ess_per_s_hand"]
        results.append(result)
    ratios = [r["ess_per_s_ratio"] for r in results]
    median = results[sorted(range(len(ratios)), key=ratios.__getitem__)[len(ratios) // 2]]
    return {**median, "ess_per_s_ratios": ratios} if len(seeds) > 1 else median


def ess_ratio(name: str, data: dict, chains: int, draws: int, warmup: int) -> dict:
    """NUTS with the same settings on both sides; each timed on its second run (compiled)."""
    import ppl
    from benchmarks.handwritten import MODELS

    compiled = ppl.load(HERE / f"{name}.ppl").compile(data)
    return nuts_ess_comparison(compiled, MODELS[name], hand_kwargs(MODELS[name], data),
                               chains, draws, warmup)


_FIRST_DRAW = r"""
import time, sys, json
start = time.perf_counter()
which, data_path, model_path, hand_model, repo, dense, init = sys.argv[1:8]
import jax
if which == "dsl":
    import ppl
    data = json.load(open(data_path))
    fit = ppl.load(model_path).sample(data, chains=1, draws=1, warmup=1, seed=0, init=init)
    first = float(fit["posterior"][list(fit["posterior"].data_vars)[0]].values.ravel()[0])
else:
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_compilation_cache_dir", __import__("os").environ["PPL_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    sys.path.insert(0, repo)
    import importlib
    module, function = hand_model.split(":")
    model = getattr(importlib.import_module(module), function)
    from benchmarks.bench_core import hand_kwargs
    from numpyro.infer import MCMC, NUTS
    data = json.load(open(data_path))
    mcmc = MCMC(NUTS(model, dense_mass=dense == "1"), num_warmup=1, num_samples=1,
                num_chains=1, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), **hand_kwargs(model, data))
    first = float(next(iter(mcmc.get_samples().values())).ravel()[0])
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def first_draw_seconds(which: str, model_path: Path, hand_model: Callable, data_path: Path,
                       dense: bool, cache_dir: Path, init: str = "auto") -> float:
    """Seconds from the top of a fresh interpreter to the first draw: ``which`` is ``"dsl"``
    (``ppl.load(model_path).sample(data, ...)`` with NUTS option ``init``) or ``"hand"``
    (NumPyro's NUTS on ``hand_model``, an importable module-level function), both on the JSON
    data at ``data_path`` with one chain, one warmup iteration and one draw, with the JAX
    compilation cache at ``cache_dir``. Interpreter start-up, the same for both, is excluded."""
    spec = f"{hand_model.__module__}:{hand_model.__name__}"
    proc = subprocess.run(
        [sys.executable, "-c", _FIRST_DRAW, which, str(data_path), str(model_path), spec,
         str(HERE.parent), "1" if dense else "0", init],
        env=dict(os.environ, PPL_CACHE_DIR=str(cache_dir)), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"first draw ({which}) failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]


def first_draw_times(model_path: Path, hand_model: Callable, data_path: Path, dense: bool,
                     repeat: bool = True) -> dict:
    """Seconds from a fresh interpreter to the first draw (see :func:`first_draw_seconds`),
    DSL and hand-written, with a cold compilation cache and (``repeat``) again in a new process
    with the cache the first one left."""
    runs = ("first", "repeat") if repeat else ("first",)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for which in ("dsl", "hand"):
            for run in runs:
                out[f"{which}_{run}_s"] = first_draw_seconds(
                    which, model_path, hand_model, data_path, dense, Path(tmp) / f"cache-{which}")
    for run in runs:
        out[f"{run}_ratio"] = out[f"dsl_{run}_s"] / out[f"hand_{run}_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="eight_schools,diamonds,logistic")
    parser.add_argument("--quick", action="store_true", help="fewer draws (smoke test)")
    parser.add_argument("--skip-ess", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))
    import jax
    import numpy as np

    import ppl

    # Double precision for both sides: ppl turns it on inside its own calls only, and the
    # hand-written NumPyro models (and the gradients taken of ppl's densities) run here.
    jax.config.update("jax_enable_x64", True)
    from benchmarks.handwritten import MODELS
    from ppl.backends.nuts import dense_metric

    rows = []
    for name in args.models.split(","):
        data = model_data(name)
        row = {"model": name, **gradient_ratio(name, data)}
        if not args.skip_ess:
            draws = 200 if args.quick else (500 if name == "logistic" else 1000)
            row.update(ess_ratio(name, data, chains=4, draws=draws, warmup=draws))
        dimension = ppl.load(HERE / f"{name}.ppl").compile(data).dimension
        with tempfile.TemporaryDirectory() as tmp:
            data_path = Path(tmp) / "data.json"
            data_path.write_text(json.dumps({k: np.asarray(v).tolist() for k, v in data.items()}))
            row.update(first_draw_times(HERE / f"{name}.ppl", MODELS[name], data_path,
                                        dense_metric("auto", dimension)))
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
