"""ppl, hand-written NumPyro and nutpie (PyMC models) on the nine anchor problems of issue 16.

The anchors: the posteriordb posteriors eight_schools_noncentered, kidscore_interaction,
diamonds, arK, garch11, gp_pois_regr, low_dim_gauss_mix and hmm_example (data and reference
posteriors from the conformance kit, ``$PPL_CONFORMANCE_DIR`` or ``../shared/conformance``),
and a synthetic logistic regression, N = 20000, D = 50 (``logistic.ppl``). The models: ppl's
``tests/conformance/models/*.ppl`` and ``logistic.ppl``; NumPyro's ``handwritten_conformance.py``
and ``handwritten.py``; PyMC's ``pymc_models.py`` (sampled by nutpie).

Every run is a fresh process; ``--reps`` repetitions are interleaved (rep 1 of every problem
and tool, then rep 2, ...). Per problem, tool and rep two processes run:
- *cold*: an empty compilation cache (ppl: ``PPL_CACHE_DIR``; NumPyro: JAX's persistent cache,
  set up as ppl sets up its own; nutpie: PyTensor's compile folder and Numba's cache). It times
  the first draw (from the top of the process, imports included, to the end of a run of the
  same chains with one warm-up iteration and one draw: for ppl, to where its chains returned,
  before the fit's results, as NumPyro's ``mcmc.run``), then the full run (4 chains x 1000
  draws + 1000 warm-up by default) twice: the first (another seed) compiles, the second is
  timed, everything compiled already (subtracting JAX's compile spans from a compiling run,
  as before, gave negative sampling times on eight schools: the spans overlap execution);
  nutpie compiles before it samples, so its sampling call is all sampling.
- *warm*: a second process with the cache the first left; it times the first draw only.

Columns (medians over reps): first draw cold and warm (s); for ppl, the warm run's
``Model.sample`` returned, its results included (s; the others' first draw includes theirs:
nothing for NumPyro, an ArviZ InferenceData for nutpie); min bulk ESS per second of sampling
over the reference parameters (for ppl, ``Model.sample`` up to the end of its chains: the
ArviZ DataTree, R-hat/ESS and warnings it then computes, which a NumPyro user computes apart
after ``mcmc.run``, are the column *results s*); min bulk ESS per 1000 gradient evaluations
(leapfrog steps of the sampling phase: ppl's ``sample_stats.n_steps``, NumPyro's
``num_steps``, nutpie's ``n_steps``);
max |z| of the posterior means, ``(mean - reference mean) / reference sd`` (for the logistic
regression: ``(mean - true coefficient) / posterior sd`` over its 51 coefficients, where about 2.5
is what a correct posterior gives); and on ppl's row its min ESS/s over the best of the others.

Settings: each tool's defaults (ppl's NUTS; NumPyro's NUTS, diagonal mass matrix, with
``numpyro.set_host_device_count(chains)`` and ``chain_method="parallel"``, as NumPyro's docs set
up CPU chains, in double precision as ppl computes; nutpie's defaults), the same seed per rep.
nutpie is skipped, with a column of ``-``, when nutpie or PyMC is not installed (``pip install
-e .[bench]``).

    python benchmarks/bench_anchors.py [--reps 3] [--models eight_schools,arK,...]
        [--tools ppl,numpyro,nutpie] [--chains 4] [--draws 1000] [--warmup 1000] [--smoke]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(HERE.parent))

from benchmarks.bench_core import (  # noqa: E402
    KIT,
    byte_compile_checkout,
    logistic_data,
    min_bulk_ess,
    stan_names,
)

PROBLEMS = ("eight_schools-eight_schools_noncentered", "kidiq-kidscore_interaction",
            "diamonds-diamonds", "arK-arK", "garch-garch11", "gp_pois_regr-gp_pois_regr",
            "low_dim_gauss_mix-low_dim_gauss_mix", "hmm_example-hmm_example", "logistic")
TOOLS = ("ppl", "numpyro", "nutpie")
# JAX's compilation steps (jax._src.dispatch): tracing, lowering, XLA (or its persistent cache)
COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
                  "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")


@dataclass(frozen=True)
class Problem:
    """One anchor problem: ppl's model file, the data, and what the means are checked against:
    ``reference`` maps Stan-style scalar names (``beta[1]``) to (mean, sd), sd None where the
    posterior's own sd is the scale (the logistic regression's true coefficients)."""

    name: str
    model_path: Path
    data: dict
    reference: dict[str, tuple[float, float | None]]

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(self.reference)


def load_problem(name: str, kit: Path = KIT) -> Problem:
    """The anchor problem ``name`` (one of :data:`PROBLEMS`), its data read from the kit at run
    time (or simulated, for ``logistic``). Raises FileNotFoundError without the kit."""
    if name == "logistic":
        data, truth = logistic_data()
        reference = {k: (float(v.item()), None) for k, v in
                     stan_names({n: v[None, None] for n, v in truth.items()}).items()}
        return Problem(name, HERE / "logistic.ppl", data, reference)
    from benchmarks.bench_conformance import MODELS_DIR

    path = kit / "posteriors" / name / "reference.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: set PPL_CONFORMANCE_DIR to the conformance "
                                "kit")
    ref = json.loads(path.read_text())
    data = json.loads((kit / "data" / f"{ref['data']}.json").read_text())
    reference = {k: (v["mean"], v["sd"]) for k, v in ref["params"].items()}
    return Problem(name, MODELS_DIR / f"{name}.ppl", data, reference)


def select(spec: str | None, choices: Sequence[str]) -> list[str]:
    """The ``choices`` named in a comma-separated ``spec`` (an item selects every choice it is
    part of: ``kidiq``, ``garch11``), in the order of ``choices``; all for no ``spec``."""
    if not spec:
        return list(choices)
    items = [item.strip() for item in spec.split(",") if item.strip()]
    for item in items:
        if not any(item in choice for choice in choices):
            raise SystemExit(f"'{item}' matches none of: {', '.join(choices)}")
    return [c for c in choices if any(item in c for item in items)]


def max_abs_z(values: Mapping, reference: Mapping[str, tuple[float, float | None]]) -> float:
    """The largest |posterior mean - reference mean| / scale over the reference parameters:
    the scale is the reference sd, or the draws' own sd where the reference gives none.
    ``values``: ``{name: (chains, draws, *shape)}``."""
    import numpy as np

    flat = stan_names(values)
    worst = 0.0
    for name, (mean, sd) in reference.items():
        draws = np.asarray(flat[name], dtype=float)
        scale = sd if sd is not None else float(draws.std())
        worst = max(worst, abs(float(draws.mean()) - mean) / scale)
    return worst


def union_seconds(spans: Sequence[tuple[float, float]]) -> float:
    """The length of the union of time intervals (nested compilation spans count once)."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


class CompileClock:
    """Collects the spans of JAX's compilation steps while the ``with`` block runs;
    ``seconds`` is their union."""

    def __enter__(self) -> CompileClock:
        import jax.monitoring

        self.spans: list[tuple[float, float]] = []

        def listen(event, start, end, **_):
            if event in COMPILE_EVENTS:
                self.spans.append((start, end))

        self._listener = listen
        jax.monitoring.register_event_time_span_listener(listen)
        return self

    def __exit__(self, *exc) -> None:
        import jax.monitoring

        jax.monitoring.unregister_event_time_span_listener(self._listener)

    @property
    def seconds(self) -> float:
        return union_seconds(self.spans)


# --- one run, in a fresh process -----------------------------------------------------------

def _ppl_run(problem: Problem, began: float, args) -> dict:
    import ppl
    from ppl.backends import nuts

    sampler_done = []  # when the chains' last chunk returned (before results and diagnostics)
    run_chains = nuts.run_chains

    def timed_run_chains(*a, **k):
        run = run_chains(*a, **k)
        sampler_done.append(time.perf_counter())
        return run

    nuts.run_chains = timed_run_chains
    model = ppl.load(problem.model_path)
    model.sample(problem.data, chains=args.chains, draws=1, warmup=1, seed=args.seed)
    # the first draw is where the chains' first chunk returned, as NumPyro's mcmc.run; the
    # fit (ArviZ's DataTree, R-hat and ESS, the warnings) comes after it
    out = {"first_draw_s": sampler_done[-1] - began, "first_fit_s": time.perf_counter() - began}
    if args.first_draw_only:
        return out
    # recorded even where the recording rule leaves them out (gp's f)
    names = sorted({p.split("[")[0] for p in problem.params})
    with CompileClock() as clock:  # the first full run compiles (its settings are new)
        model.sample(problem.data, chains=args.chains, draws=args.draws,
                     warmup=args.warmup, seed=args.seed + 1000, var_names=names)
    start = time.perf_counter()  # the measured run: every program compiled already
    fit = model.sample(problem.data, chains=args.chains, draws=args.draws,
                       warmup=args.warmup, seed=args.seed, var_names=names)
    wall = time.perf_counter() - start
    posterior = fit["posterior"]
    # What a NumPyro user's mcmc.run leaves to them (ArviZ's DataTree, R-hat/ESS and the
    # sampler's warnings), ppl's Model.sample does after the chains: timed apart.
    after = time.perf_counter() - sampler_done[-1] if sampler_done else 0.0
    return {**out, "run_s": wall - after, "results_s": after, "compile_s": clock.seconds,
            "values": {k: posterior[k].values for k in posterior.data_vars},
            "gradients": int(fit["sample_stats"]["n_steps"].values.sum())}


def _numpyro_run(problem: Problem, began: float, args) -> dict:
    import numpyro

    numpyro.set_host_device_count(args.chains)  # before JAX starts its CPU backend
    numpyro.enable_x64()
    import jax
    from numpyro.infer import MCMC, NUTS

    from benchmarks.bench_core import hand_kwargs

    # ppl's cache settings (ppl.jax_settings.MIN_COMPILE_SECONDS; importing it would import ppl)
    jax.config.update("jax_compilation_cache_dir", os.environ["ANCHORS_JAX_CACHE"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    if problem.name == "logistic":
        from benchmarks.handwritten import logistic as model
    else:
        from benchmarks.handwritten_conformance import MODELS
        model = MODELS[problem.name]
    kwargs = hand_kwargs(model, problem.data)

    def mcmc(warmup: int, draws: int) -> MCMC:
        return MCMC(NUTS(model), num_warmup=warmup, num_samples=draws, num_chains=args.chains,
                    chain_method="parallel", progress_bar=False)

    with jax.numpy_rank_promotion("allow"):
        first = mcmc(1, 1)
        first.run(jax.random.PRNGKey(args.seed), **kwargs)
        jax.block_until_ready(first.get_samples())
        out = {"first_draw_s": time.perf_counter() - began}
        if args.first_draw_only:
            return out
        full = mcmc(args.warmup, args.draws)
        with CompileClock() as clock:  # the first full run compiles
            full.run(jax.random.PRNGKey(args.seed + 1000), extra_fields=("num_steps",),
                     **kwargs)
            jax.block_until_ready(full.get_samples(group_by_chain=True))
        # The measured run: the same MCMC object reuses its compiled sampler.
        start = time.perf_counter()
        full.run(jax.random.PRNGKey(args.seed), extra_fields=("num_steps",), **kwargs)
        samples = jax.block_until_ready(full.get_samples(group_by_chain=True))
        wall = time.perf_counter() - start
    steps = full.get_extra_fields(group_by_chain=True)["num_steps"]
    return {**out, "run_s": wall, "compile_s": clock.seconds,
            "values": {k: jax.device_get(v) for k, v in samples.items()},
            "gradients": int(steps.sum())}


def _nutpie_run(problem: Problem, began: float, args) -> dict:
    import nutpie

    from benchmarks.pymc_models import MODELS

    start = time.perf_counter()
    compiled = nutpie.compile_pymc_model(MODELS[problem.name](problem.data))
    compile_s = time.perf_counter() - start
    nutpie.sample(compiled, chains=args.chains, draws=1, tune=1, seed=args.seed,
                  progress_bar=False)
    out = {"first_draw_s": time.perf_counter() - began, "compile_s": compile_s}
    if args.first_draw_only:
        return out
    start = time.perf_counter()
    trace = nutpie.sample(compiled, chains=args.chains, draws=args.draws, tune=args.warmup,
                          seed=args.seed, progress_bar=False)
    wall = time.perf_counter() - start
    posterior = trace["posterior"]
    return {**out, "run_s": wall,
            "values": {k: posterior[k].values for k in posterior.data_vars},
            "gradients": int(trace["sample_stats"]["n_steps"].values.sum())}


RUNS = {"ppl": _ppl_run, "numpyro": _numpyro_run, "nutpie": _nutpie_run}


def worker(args) -> None:
    """One run in this (fresh) process; prints its measurements as one JSON line."""
    began = time.perf_counter()
    warnings.filterwarnings("ignore")  # kit files hold unused entries; NumPyro's notices
    problem = load_problem(args.problem)
    load_s = time.perf_counter() - began
    cpu = time.process_time()
    result = RUNS[args.tool](problem, began, args)
    result.update(tool=args.tool, problem=args.problem, seed=args.seed, load_s=load_s,
                  cpu_s=time.process_time() - cpu)
    values = result.pop("values", None)
    if values is not None:
        # nutpie's sampling call compiles nothing; the JAX tools' measured run is their
        # second, after a first run of the same settings compiled everything
        result["sampling_s"] = result["run_s"]
        result["min_ess"] = min_bulk_ess(values, problem.params)
        result["ess_per_s"] = result["min_ess"] / result["sampling_s"]
        result["ess_per_1000_grad"] = 1000 * result["min_ess"] / result["gradients"]
        result["max_abs_z"] = max_abs_z(values, problem.reference)
    print(json.dumps(result), flush=True)


# --- the driver ------------------------------------------------------------------------------

def spawn(tool: str, problem: str, cache: Path, seed: int, settings: Sequence[str],
          first_draw_only: bool, timeout: float) -> dict:
    """Run one measurement in a fresh interpreter with its caches under ``cache``."""
    env = dict(os.environ, PPL_CACHE_DIR=str(cache / "ppl"),
               ANCHORS_JAX_CACHE=str(cache / "jax"), NUMBA_CACHE_DIR=str(cache / "numba"),
               PYTENSOR_FLAGS=f"compiledir={cache / 'pytensor'}")
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", tool, problem,
               "--seed", str(seed), *settings] + (["--first-draw-only"] if first_draw_only
                                                  else [])
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"tool": tool, "problem": problem, "error": f"over {timeout:.0f} s"}
    if proc.returncode != 0:
        last = [line for line in proc.stderr.splitlines() if line.strip()][-1:]
        return {"tool": tool, "problem": problem, "error": " ".join(last)}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(records: Sequence[dict], problems: Sequence[str], tools: Sequence[str]) -> list:
    """One row per problem and tool: medians over reps (None where nothing was measured)."""
    rows = []
    for problem in problems:
        best_other = None
        group = []
        for tool in tools:
            mine = [r for r in records if r["problem"] == problem and r["tool"] == tool]

            def median(key, phase, mine=mine):
                found = [r[key] for r in mine if r.get("phase") == phase and key in r]
                return statistics.median(found) if found else None

            row = {"problem": problem, "tool": tool,
                   "first_cold": median("first_draw_s", "cold"),
                   "first_warm": median("first_draw_s", "warm"),
                   "fit_warm": median("first_fit_s", "warm"),
                   "ess_per_s": median("ess_per_s", "cold"),
                   "ess_per_1000_grad": median("ess_per_1000_grad", "cold"),
                   "max_abs_z": median("max_abs_z", "cold"),
                   "results_s": median("results_s", "cold"),
                   "runs": sum(1 for r in mine if r.get("phase") == "cold" and "ess_per_s" in r),
                   "errors": sorted({r["error"] for r in mine if "error" in r})}
            if tool != "ppl" and row["ess_per_s"] is not None:
                best_other = max(best_other or 0.0, row["ess_per_s"])
            group.append(row)
        for row in group:
            if row["tool"] == "ppl" and row["ess_per_s"] is not None and best_other:
                row["ratio"] = row["ess_per_s"] / best_other
        rows += group
    return rows


def table(rows: Sequence[dict]) -> str:
    """The rows as one Markdown table, ``-`` where nothing was measured."""
    columns = [("problem", "problem", None), ("tool", "tool", None),
               ("first draw cold s", "first_cold", ".1f"),
               ("warm s", "first_warm", ".1f"), ("warm, fit returned s", "fit_warm", ".1f"),
               ("min bulk ESS/s", "ess_per_s", ".1f"),
               ("ESS per 1000 grad", "ess_per_1000_grad", ".1f"),
               ("max abs z", "max_abs_z", ".2f"), ("ppl / best other", "ratio", ".2f"),
               ("results s", "results_s", ".2f"),
               ("runs", "runs", "d")]
    lines = ["| " + " | ".join(title for title, _, _ in columns) + " |",
             "|" + "---|" * len(columns)]
    for row in rows:
        cells = [format(row[key], fmt or "") if row.get(key) is not None else "-"
                 for _, key, fmt in columns]
        cells[0] = cells[0].split("-", 1)[-1]  # the posterior's name: kidscore_interaction
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def installed(tool: str) -> bool:
    """Whether ``tool``'s packages are importable (nutpie needs nutpie and PyMC)."""
    needs = {"ppl": ["ppl"], "numpyro": ["numpyro"], "nutpie": ["nutpie", "pymc"]}[tool]
    return all(importlib.util.find_spec(name) is not None for name in needs)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("TOOL", "PROBLEM"), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--first-draw-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--models", help="comma-separated parts of problem names (default: all)")
    parser.add_argument("--tools", help="comma-separated: ppl, numpyro, nutpie (default: all)")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds one process may take before it is recorded as failed")
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny run: 2 chains x 30 draws + 30 warm-up, one rep, eight "
                             "schools unless --models says otherwise")
    parser.add_argument("--json", type=Path, help="also write every run's record here")
    args = parser.parse_args(argv)
    if args.worker:
        args.tool, args.problem = args.worker
        worker(args)
        return
    if args.smoke:
        args.chains, args.draws, args.warmup, args.reps = 2, 30, 30, 1
        args.models = args.models or "eight_schools"
    problems = select(args.models, PROBLEMS)
    tools = select(args.tools, TOOLS)
    if any(p != "logistic" for p in problems) and not (KIT / "posteriors").is_dir():
        raise SystemExit(f"conformance kit not found at {KIT}: set PPL_CONFORMANCE_DIR")
    skipped = [t for t in tools if not installed(t)]
    for tool in skipped:
        print(f"{tool} is not installed: its rows are '-' (pip install -e .[bench])")
    settings = ["--chains", str(args.chains), "--draws", str(args.draws),
                "--warmup", str(args.warmup)]
    byte_compile_checkout()
    load_start = os.getloadavg()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in load_start)}", flush=True)
    records: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for problem in problems:
                for tool in tools:
                    if tool in skipped:
                        continue
                    cache = Path(tmp) / f"rep{rep}" / problem / tool
                    for phase in ("cold", "warm"):
                        record = spawn(tool, problem, cache, rep + 1, settings,
                                       first_draw_only=phase == "warm", timeout=args.timeout)
                        record.update(phase=phase, rep=rep + 1)
                        records.append(record)
                        print(json.dumps(record), flush=True)
    load_end = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
    print()
    print(f"{args.chains} chains x {args.draws} draws + {args.warmup} warm-up, {args.reps} "
          f"interleaved reps, medians; load average (1, 5, 15 min) at start "
          f"{' '.join(f'{x:.2f}' for x in load_start)}, at end "
          f"{' '.join(f'{x:.2f}' for x in load_end)}")
    rows = summarise(records, problems, tools)
    print(table(rows))
    for row in rows:
        for error in row["errors"]:
            print(f"{row['problem']} / {row['tool']}: {error}", file=sys.stderr)


if __name__ == "__main__":
    main()
