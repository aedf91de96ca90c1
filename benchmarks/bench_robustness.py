"""Robustness of the default NUTS settings: over many seeds, is every bad fit flagged?

For each model case and each seed it samples with the default settings (``ppl.Model.sample``
with only chains, draws, warmup and seed given), compares the draws with a reference and
records whether the user was warned: a fit is *flagged* when ``ppl.summary.sampler_warnings``
is non-empty, when ``sample`` issued a ``ppl.SamplingWarning``, or when it raised a
``ppl.PPLError`` (then it is also counted as not matching). One table row per model: seeds
whose fit matches the reference, bad fits, bad fits that were not flagged, and which seeds.

    python -m benchmarks.bench_robustness --seeds 0-9 [--models nan_gradient,kidiq,...]
        [--chains 4 --draws 1000 --warmup 1000] [--json results.json]

The cases (``--models`` takes names or parts of names, comma-separated; ``conformance``
selects the kit's posteriors):

- ``nan_gradient``, ``arma11``, ``hsgp``: models whose log-density has NaN gradients or
  overflows in part of the space (``benchmarks/robustness/*.ppl``, data simulated here with a
  fixed seed). References: numerical quadrature for the first, a long run computed once and
  cached in ``benchmarks/.cache/`` for the others (``--reference-only`` computes them).
- every conformance posterior of ``tests/conformance/models`` (the list of
  ``tests/conformance/test_conformance.py``, ``:discrete`` variants included), checked with the
  kit's own ``check.py``;
- eight schools centred and non-centred, checked with ``check.py`` against the kit's
  non-centred reference (the same posterior for mu, tau and theta).

Target: no unflagged bad fit anywhere, and at least 9 seeds in 10 matching on every posterior
that Stan samples well (the conformance posteriors and the non-centred eight schools). The kit
is read from ``$PPL_CONFORMANCE_DIR`` or ``../shared/conformance`` at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(HERE.parent))

from benchmarks.bench_conformance import MODELS_DIR as CONFORMANCE_MODELS  # noqa: E402
from benchmarks.bench_conformance import cases as conformance_names  # noqa: E402
from benchmarks.bench_conformance import load_case  # noqa: E402
from benchmarks.bench_core import KIT  # noqa: E402

MODELS = HERE / "robustness"
EXAMPLES = HERE.parent / "examples"
CACHE = HERE / ".cache"

# A difference of more than Z combined standard errors is a mismatch. Under a correct sampler
# each z is roughly standard normal, so |z| > 4 happens by chance with probability 6e-5 per
# comparison: about 0.5% of fits for a case with 40 comparisons.
Z = 4.0
RHAT_LIMIT = 1.01
# Fraction of seeds that must match on a posterior that Stan samples well.
PASS_FRACTION = 0.9
# The long reference runs of the cached cases (changing them recomputes the cache).
REFERENCE_SETTINGS = {"chains": 8, "draws": 2000, "warmup": 1000, "seed": 12345,
                      "target_accept": 0.95}


@dataclass(frozen=True)
class Verdict:
    """Whether one fit matches its reference, and a short reason."""

    matched: bool
    detail: str


@dataclass(frozen=True)
class Case:
    """One model of the benchmark: its file, its data, and the checker of a fit against the
    reference. ``well_sampled`` marks a posterior that Stan samples well, held to the
    9-in-10 target; the others only have to be flagged when they are bad."""

    name: str
    model_path: Path
    data: Callable[[], dict]
    check: Callable[[object], Verdict]
    well_sampled: bool
    uses_kit: bool = False  # data or reference from the conformance kit


@dataclass
class Result:
    """One fit: one case with one seed."""

    model: str
    seed: int
    seconds: float
    matched: bool
    flagged: bool
    detail: str
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    min_ess_bulk: float = float("nan")  # over the sampled scalar quantities
    gradients: int = 0  # leapfrog steps (gradient evaluations) of the sampling phase

    @property
    def ess_per_1000_gradients(self) -> float:
        """Efficiency that the machine's load does not change: what the metric comparison
        (bench_metric.py) reads."""
        return 1000 * self.min_ess_bulk / self.gradients if self.gradients else float("nan")

    @property
    def bad_unflagged(self) -> bool:
        """A wrong answer the user was not warned about: what the benchmark must never see."""
        return not self.matched and not self.flagged


# ---------------------------------------------------------------------------------------------
# Reference checks, all derived from Monte Carlo standard errors
# ---------------------------------------------------------------------------------------------

def moment_errors(draws: np.ndarray, ref_mean: float, ref_sd: float, ref_mean_se: float = 0.0,
                  ref_sd_se: float = 0.0, z: float = Z) -> list[str]:
    """Why a (chains, draws) array disagrees with a reference mean and sd, or [] when it does
    not. The mean passes when |mean - ref_mean| < z * sqrt(MCSE(mean)^2 + ref_mean_se^2), the
    sd likewise with the MCSE of the sd (both from arviz, so autocorrelation is accounted
    for). ``ref_*_se`` are the reference's own standard errors (0 for an exact one)."""
    import arviz as az

    x = np.asarray(draws, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    if not np.all(np.isfinite(x)):
        return ["non-finite draws"]
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    mcse_mean = float(az.mcse(x, method="mean"))
    mcse_sd = float(az.mcse(x, method="sd"))
    problems = []
    mean_tol = z * math.hypot(mcse_mean, ref_mean_se)
    if not abs(mean - ref_mean) < mean_tol:  # `not <` so that a NaN tolerance fails
        problems.append(f"mean {mean:.4g} vs {ref_mean:.4g} (tolerance {mean_tol:.2g})")
    sd_tol = z * math.hypot(mcse_sd, ref_sd_se)
    if not abs(sd - ref_sd) < sd_tol:
        problems.append(f"sd {sd:.4g} vs {ref_sd:.4g} (tolerance {sd_tol:.2g})")
    return problems


def nan_gradient_reference() -> dict[str, tuple[float, float]]:
    """Exact mean and sd of l and of log(l) under the toy's density, lognormal(0, 1) times
    exp(exp(-500 l^2)), by quadrature (normalised numerically)."""
    from scipy import integrate, stats

    def density(v: float) -> float:
        return stats.lognorm.pdf(v, 1.0) * math.exp(math.exp(-500.0 * v * v))

    def moment(g: Callable[[float], float]) -> float:
        # The factor exp(exp(-500 l^2)) changes within l < 0.2 and the lognormal has a long
        # tail: integrate the pieces apart so quad resolves both.
        pieces = [(0.0, 0.2), (0.2, 5.0), (5.0, math.inf)]
        return sum(integrate.quad(lambda v: g(v) * density(v), a, b, epsabs=1e-13, epsrel=1e-10,
                                  limit=200)[0] for a, b in pieces)

    total = moment(lambda v: 1.0)
    out = {}
    for name, g in [("l", lambda v: v), ("log_l", math.log)]:
        m1 = moment(g) / total
        m2 = moment(lambda v, g=g: g(v) ** 2) / total
        out[name] = (m1, math.sqrt(m2 - m1 * m1))
    return out


def rhat_errors(draws: np.ndarray) -> list[str]:
    """``R-hat ...`` when the chains of a (chains, draws) array disagree (R-hat >= 1.01, or
    undefined: chains that never moved), else []. Needed next to the moment checks: chains
    stuck at scattered points have a huge MCSE, so their pooled moments can pass."""
    import arviz as az

    x = np.asarray(draws, dtype=float)
    if x.ndim < 2 or x.shape[0] < 2 or not np.all(np.isfinite(x)):
        return []  # one chain has no R-hat; non-finite draws are reported by moment_errors
    with warnings.catch_warnings():  # constant chains give a NaN R-hat: a failure, not noise
        warnings.simplefilter("ignore", RuntimeWarning)
        rhat = float(az.rhat(x))
    return [] if rhat < RHAT_LIMIT else [f"R-hat {rhat:.3f}"]


def check_nan_gradient(fit, reference: dict[str, tuple[float, float]] | None = None) -> Verdict:
    """The toy's fit against the quadrature: mean and sd of l, and of log(l), and R-hat of l.
    The sd of l is noisy (the lognormal's heavy tail makes its MCSE about 8% of it with 4 000
    draws); log(l) is nearly normal, so its moments also catch a 30% error in the spread."""
    reference = reference or nan_gradient_reference()
    l_draws = np.asarray(fit["posterior"]["l"], dtype=float)
    problems = [f"l: {p}" for p in rhat_errors(l_draws)]
    for name, values in [("l", l_draws), ("log_l", np.log(l_draws))]:
        problems += [f"{name}: {p}" for p in moment_errors(values, *reference[name])]
    return Verdict(not problems, "; ".join(problems) or "mean and sd of l, log l match")


def check_long_run(fit, reference: dict) -> Verdict:
    """A fit against a cached long run: for every reference parameter |mean - ref| <
    Z sqrt(MCSE^2 + ref_se^2), the sd likewise, and R-hat < 1.01."""
    from ppl.summary import flat_draws

    draws = flat_draws(fit)
    problems = []
    for name, ref in reference["params"].items():
        if name not in draws:
            problems.append(f"{name}: missing")
            continue
        values = np.asarray(draws[name], dtype=float)
        errors = rhat_errors(values) + moment_errors(values, ref["mean"], ref["sd"],
                                                     ref["mcse_mean"], ref["mcse_sd"])
        problems += [f"{name}: {e}" for e in errors]
    shown = "; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else "")
    return Verdict(not problems, shown or f"{len(reference['params'])} parameters match")


def check_with_kit(fit, posterior: str) -> Verdict:
    """The conformance kit's own check.py on the fit's draws (|z| < 5 for every mean, sd within
    15%), against ``posterior``'s reference."""
    from ppl.summary import flat_draws

    with tempfile.TemporaryDirectory() as folder:
        draws_file = Path(folder) / "draws.json"
        draws_file.write_text(json.dumps(flat_draws(fit)))
        result = subprocess.run([sys.executable, str(KIT / "check.py"), posterior,
                                 str(draws_file)], capture_output=True, text=True, timeout=300)
    lines = result.stdout.strip().splitlines()
    summary = lines[-1] if lines else result.stderr.strip()[-200:]
    return Verdict(result.returncode == 0, summary)


# ---------------------------------------------------------------------------------------------
# Simulated data and cached long-run references
# ---------------------------------------------------------------------------------------------

def arma_data() -> dict:
    """An invertible ARMA(1, 1) series (mu 1, phi 0.6, theta 0.5, sigma 1), T = 150, after a
    burn-in of 50 steps so that the start does not matter."""
    rng = np.random.default_rng(20261201)
    burn, T = 50, 150
    mu, phi, theta, sigma = 1.0, 0.6, 0.5, 1.0
    e = rng.normal(0.0, sigma, burn + T)
    y = np.zeros(burn + T)
    for t in range(1, burn + T):
        y[t] = mu + phi * y[t - 1] + theta * e[t - 1] + e[t]
    return {"T": T, "y": y[burn:].tolist()}


def hsgp_data() -> dict:
    """A smooth function plus noise (N = 60 on [-1, 1], M = 30 basis functions, L = 1.5). The
    data leave length scales above ~1.2 plausible (about a sixth of the posterior mass), where
    the highest-frequency spectral density underflows."""
    rng = np.random.default_rng(20261202)
    N = 60
    x = np.sort(rng.uniform(-1.0, 1.0, N))
    y = 0.8 * np.sin(0.5 * x + 0.5) + rng.normal(0.0, 0.3, N)
    return {"N": N, "M": 30, "x": x.tolist(), "y": y.tolist(), "L": 1.5}


def kit_data(posterior: str) -> dict:
    """The conformance kit's data set of ``posterior``, read at run time."""
    return load_case(posterior).data


@dataclass(frozen=True)
class LongRun:
    """How a cached reference is computed: the model sampled (a numerically stable
    formulation of the same posterior where there is one), its data, the parameters kept."""

    name: str
    model_path: Path
    data: Callable[[], dict]
    params: Callable[[dict], list[str]]


def _fingerprint(run: LongRun, data: dict) -> str:
    """Changes when the model, the data or the reference settings change."""
    text = json.dumps([run.model_path.read_text(), data, REFERENCE_SETTINGS], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def long_run_reference(run: LongRun, refresh: bool = False) -> dict:
    """The cached reference of ``run`` (benchmarks/.cache/robustness-NAME.json), computed with
    REFERENCE_SETTINGS when absent, out of date or ``refresh``: per parameter the mean, sd and
    their MCSEs, and the run's own sampler warnings (a reference with warnings is reported)."""
    import arviz as az

    import ppl
    from ppl.summary import flat_draws, sampler_warnings

    data = run.data()
    path = CACHE / f"robustness-{run.name}.json"
    fingerprint = _fingerprint(run, data)
    if path.is_file() and not refresh:
        cached = json.loads(path.read_text())
        if cached.get("fingerprint") == fingerprint:
            return cached
    settings = dict(REFERENCE_SETTINGS)
    print(f"computing the reference of {run.name}: {settings}", flush=True)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ppl.SamplingWarning)  # read from the fit below
        fit = ppl.load(run.model_path).sample(data=data, **settings)
    draws = flat_draws(fit)
    params = {}
    for name in run.params(data):
        x = np.asarray(draws[name], dtype=float)
        params[name] = {"mean": float(x.mean()), "sd": float(x.std(ddof=1)),
                        "mcse_mean": float(az.mcse(x, method="mean")),
                        "mcse_sd": float(az.mcse(x, method="sd")),
                        "ess_bulk": float(az.ess(x, method="bulk")), "r_hat": float(az.rhat(x))}
    reference = {"name": run.name, "model": str(run.model_path.relative_to(HERE.parent)),
                 "fingerprint": fingerprint, "settings": settings,
                 "seconds": round(time.perf_counter() - start, 1),
                 "warnings": sampler_warnings(fit), "params": params}
    CACHE.mkdir(exist_ok=True)
    path.write_text(json.dumps(reference, indent=1))
    print(f"  {reference['seconds']} s, written to {path}", flush=True)
    for note in reference["warnings"]:
        print(f"  warning: the reference run of {run.name} has: {note}", flush=True)
    return reference


LONG_RUNS = {
    "arma11": LongRun("arma11", MODELS / "arma11.ppl", arma_data,
                      lambda data: ["mu", "phi", "theta", "sigma"]),
    # hsgp_stable.ppl: the same posterior as hsgp.ppl without the sqrt of an underflowed 0, so
    # the reference does not share the defect that the benchmark looks at.
    "hsgp": LongRun("hsgp", MODELS / "hsgp_stable.ppl", hsgp_data,
                    lambda data: ["alpha", "lscale", "sigma"]
                    + [f"beta[{m}]" for m in range(1, data["M"] + 1)]),
}


def _cached_check(fit, name: str, refresh: bool = False) -> Verdict:
    return check_long_run(fit, long_run_reference(LONG_RUNS[name], refresh))


# ---------------------------------------------------------------------------------------------
# The cases, and running them
# ---------------------------------------------------------------------------------------------

def all_cases() -> list[Case]:
    """Every case, in the order of the table."""
    noncentered = "eight_schools-eight_schools_noncentered"
    toys = [
        Case("nan_gradient", MODELS / "nan_gradient.ppl", dict, check_nan_gradient, False),
        Case("arma11", MODELS / "arma11.ppl", arma_data, partial(_cached_check, name="arma11"),
             False),
        Case("hsgp", MODELS / "hsgp.ppl", hsgp_data, partial(_cached_check, name="hsgp"),
             False),
    ]
    eight_schools = [
        Case("eight_schools_centered", MODELS / "eight_schools_centered.ppl",
             partial(kit_data, noncentered), partial(check_with_kit, posterior=noncentered),
             False, uses_kit=True),
        Case("eight_schools_noncentered", EXAMPLES / "eight_schools.ppl",
             partial(kit_data, noncentered), partial(check_with_kit, posterior=noncentered),
             True, uses_kit=True),
    ]
    # Every model file of tests/conformance/models: the posteriors test_conformance.py runs.
    conformance = []
    for name in conformance_names():
        posterior, _, variant = name.partition(":")
        path = CONFORMANCE_MODELS / f"{posterior}{'.' + variant if variant else ''}.ppl"
        conformance.append(Case(name, path, partial(kit_data, name),
                                partial(check_with_kit, posterior=posterior), True,
                                uses_kit=True))
    return toys + eight_schools + conformance


def select(cases: list[Case], spec: str | None) -> list[Case]:
    """The cases whose name contains one of the comma-separated items (``conformance`` selects
    the kit's posteriors), in table order."""
    if not spec:
        return cases
    items = [item.strip() for item in spec.split(",") if item.strip()]
    conformance = set(conformance_names())
    chosen = [c for c in cases if any(item in c.name or (item == "conformance"
                                                         and c.name in conformance)
                                      for item in items)]
    unknown = [item for item in items if item != "conformance"
               and not any(item in c.name for c in cases)]
    if unknown:
        raise SystemExit(f"no case matches {', '.join(unknown)}; choose from: "
                         + ", ".join(c.name for c in cases))
    return chosen


def run_case(case: Case, seed: int, chains: int, draws: int, warmup: int,
             options: dict | None = None) -> Result:
    """Sample ``case`` with the default NUTS settings (or these backend ``options``) and one
    seed, and check the fit. The warnings ``sample`` issues are recorded rather than shown, so
    that a flag is counted only when the user would have seen one."""
    import ppl
    from ppl.summary import drawn_after_sampling, sampler_warnings, summary_rows

    model = ppl.load(case.model_path)
    data = case.data()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = model.sample(data=data, chains=chains, draws=draws, warmup=warmup, seed=seed,
                               **(options or {}))
        except ppl.PPLError as exc:  # the user was told; the fit cannot match
            seconds = time.perf_counter() - start
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return Result(case.name, seed, seconds, False, True, "sampling raised an error",
                          error=f"{type(exc).__name__}: {message}")
    seconds = time.perf_counter() - start
    notes = [f"SamplingWarning: {w.message}" for w in caught
             if issubclass(w.category, ppl.SamplingWarning)]
    notes += [n for n in sampler_warnings(fit) if f"SamplingWarning: {n}" not in notes]
    verdict = case.check(fit)
    sampled = [n for n in fit["posterior"].data_vars if n not in drawn_after_sampling(fit)]
    ess = [r["ess_bulk"] for r in summary_rows(fit, sampled)] if sampled else []
    gradients = int(np.asarray(fit["sample_stats"]["n_steps"]).sum())
    return Result(case.name, seed, seconds, verdict.matched, bool(notes), verdict.detail, notes,
                  min_ess_bulk=float(np.nanmin(ess)) if ess else float("nan"),
                  gradients=gradients)


def progress_line(r: Result) -> str:
    """One line per fit, printed as the benchmark goes."""
    first = r.error or (r.warnings[0] if r.warnings else "")
    first = first if len(first) <= 90 else first[:87] + "..."
    return (f"{r.model} seed {r.seed}: {r.seconds:.1f} s, matched={r.matched}, "
            f"flagged={r.flagged}{'  ' + first if first else ''}"
            + ("" if r.matched else f"\n    mismatch: {r.detail[:200]}"))


def table(cases: list[Case], results: list[Result]) -> str:
    """Per model: seeds matching, bad fits, unflagged bad fits, and which seeds (Markdown)."""
    lines = ["| model | target | matched | bad | bad unflagged | bad seeds | unflagged seeds |",
             "|---|---|---|---|---|---|---|"]
    for case in cases:
        rows = [r for r in results if r.model == case.name]
        if not rows:
            continue
        bad = [r.seed for r in rows if not r.matched]
        unflagged = [r.seed for r in rows if r.bad_unflagged]
        target = f">= {PASS_FRACTION:.0%} match" if case.well_sampled else "flagged"
        lines.append(f"| {case.name} | {target} | {len(rows) - len(bad)}/{len(rows)} | "
                     f"{len(bad)} | {len(unflagged)} | {_seeds(bad)} | {_seeds(unflagged)} |")
    return "\n".join(lines)


def _seeds(seeds: list[int]) -> str:
    return ",".join(map(str, seeds)) or "-"


def verdict_lines(cases: list[Case], results: list[Result]) -> list[str]:
    """The targets and whether this run meets them."""
    unflagged = [r for r in results if r.bad_unflagged]
    short = []
    for case in cases:
        rows = [r for r in results if r.model == case.name]
        if case.well_sampled and rows and sum(r.matched for r in rows) < PASS_FRACTION * len(rows):
            short.append(f"{case.name} ({sum(r.matched for r in rows)}/{len(rows)})")
    return [
        f"target 1: no unflagged bad fit anywhere: {len(unflagged)} "
        f"-> {'MET' if not unflagged else 'NOT MET'}",
        f"target 2: >= {PASS_FRACTION:.0%} of seeds match on every posterior Stan samples well: "
        + ("MET" if not short else "NOT MET for " + ", ".join(short)),
    ]


def parse_seeds(spec: str) -> list[int]:
    """``0-9``, ``3`` or ``0,2,5-7``."""
    seeds: list[int] = []
    for part in spec.split(","):
        lo, dash, hi = part.strip().partition("-")
        seeds += list(range(int(lo), int(hi) + 1)) if dash else [int(lo)]
    return seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5-7")
    parser.add_argument("--models", help="comma-separated names or parts of names")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="write every result to this file")
    parser.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                        help="a NUTS option for every fit, e.g. -o dense_mass=false")
    parser.add_argument("--reference-only", action="store_true",
                        help="only compute (or load) the cached long-run references")
    parser.add_argument("--refresh-references", action="store_true",
                        help="recompute the cached long-run references")
    args = parser.parse_args(argv)

    import jax

    from ppl.backends.options import parse_option_items

    cases = select(all_cases(), args.models)
    needs_kit = [c for c in cases if c.uses_kit]
    if needs_kit and not (KIT / "check.py").is_file():
        print(f"conformance kit not found at {KIT} (set PPL_CONFORMANCE_DIR): skipping "
              + ", ".join(c.name for c in needs_kit), file=sys.stderr)
        cases = [c for c in cases if c not in needs_kit]
    # The references first, so that the seeds' timings do not include them.
    for name in [c.name for c in cases if c.name in LONG_RUNS]:
        long_run_reference(LONG_RUNS[name], refresh=args.refresh_references)
    if args.reference_only:
        return 0
    # The kit's data files hold entries some models do not use; the loader warns about each.
    warnings.filterwarnings("ignore", message=".*data entries not used")

    seeds = parse_seeds(args.seeds)
    results = []
    for case in cases:
        for seed in seeds:
            result = run_case(case, seed, args.chains, args.draws, args.warmup,
                              parse_option_items(args.option))
            results.append(result)
            print(progress_line(result), flush=True)
        # JAX keeps every compiled program alive; a long run over many models would otherwise
        # exhaust LLVM's memory maps (see bench_conformance.py).
        jax.clear_caches()

    print()
    settings = ", ".join(args.option) or "default NUTS settings"
    print(f"{args.chains} chains x {args.draws} draws ({args.warmup} warmup), {settings}, "
          f"seeds {args.seeds}")
    print(table(cases, results))
    print()
    for line in verdict_lines(cases, results):
        print(line)
    if args.json:
        args.json.write_text(json.dumps({"settings": vars(args) | {"json": str(args.json)},
                                         "results": [asdict(r) for r in results]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
