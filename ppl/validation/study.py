"""A calibration study of one model and one backend: :func:`validate`.

Parameters and observations are drawn from the model's own prior predictive distribution
(the data supplies the sizes and covariates), each simulated data set is fitted with
:func:`ppl.validation.many.fit_many`, and the fits are compared with the truths that made
them: simulation-based calibration per scalar parameter and TARP over all parameters
(:mod:`ppl.validation.calibration`). A correct posterior passes both up to chance; a failure
says how the posterior is wrong (:data:`MEANINGS`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ppl import data as data_module
from ppl.errors import SamplingError, error
from ppl.validation import calibration
from ppl.validation.many import FitOutcome, fit_many, simulation_seeds
from ppl.validation.vectorised import OPTIONS as VECTORISED_OPTIONS
from ppl.validation.vectorised import fit_vectorised

METHODS = ("sbc", "tarp")
# What each shape of failure means, said of the posterior (SBC ranks: the fraction of
# posterior draws below the truth; TARP: the fraction of draws nearer a reference point).
MEANINGS = {
    "sbc": {
        "u-shaped": "ranks pile up at both ends: the posterior is too narrow (overconfident)",
        "hump-shaped": "ranks pile up in the middle: the posterior is too wide "
                       "(underconfident)",
        "low": "ranks are too low: the posterior sits above the truth (biased upwards)",
        "high": "ranks are too high: the posterior sits below the truth (biased downwards)",
        "uniform": "the ECDF leaves its band without a simple shape: the posterior is wrong "
                   "in a way that is neither a bias nor a width",
    },
    "tarp": {
        "u-shaped": "credible regions cover the truth less often than their level: the "
                    "posterior is overconfident (too narrow, or off-centre)",
        "hump-shaped": "credible regions cover the truth more often than their level: the "
                       "posterior is too wide (underconfident)",
        "low": "the truth is nearer the reference points than the posterior: the posterior "
               "is biased",
        "high": "the truth is farther from the reference points than the posterior: the "
                "posterior is biased",
        "uniform": "the coverage leaves its band without a simple shape: the joint posterior "
                   "is wrong",
    },
}


@dataclass(frozen=True)
class ParameterCheck:
    """SBC of one scalar parameter (``name``, e.g. ``theta[2]``)."""

    name: str
    passed: bool
    p_value: float
    inside_band: bool
    shape: str
    meaning: str  # empty when it passed


@dataclass(frozen=True)
class TarpCheck:
    """TARP over all parameters."""

    passed: bool
    p_value: float
    inside_band: bool
    shape: str
    meaning: str
    numbers: calibration.Tarp


@dataclass(frozen=True)
class Validation:
    """The result of :func:`validate` (``Model.validate``).

    ``verdict`` is ``"pass"`` or ``"fail"``; ``parameters`` the SBC of each scalar parameter;
    ``tarp`` the TARP check (None when not asked for); ``ranks`` the fractional ranks
    (simulation, scalar); ``truths`` the simulated values; ``failures`` the fits that failed
    (left out of the checks); ``fit_warnings`` the sampler's warnings (divergences, low
    effective sample size), each with the number of fits that gave it. Each check is made at
    level ``alpha`` divided by the number of checks (Bonferroni), so that the overall verdict
    is a test at level ``alpha``.
    :meth:`to_dataset` gives the numbers as an ``xarray.Dataset``, :meth:`to_json` as a
    JSON-ready dict, :meth:`plot` writes the plots.
    """

    verdict: str
    parameters: tuple[ParameterCheck, ...]
    tarp: TarpCheck | None
    names: tuple[str, ...]
    truths: np.ndarray
    ranks: np.ndarray
    band: calibration.Band
    alpha: float
    backend: str
    simulations: int
    failures: tuple[FitOutcome, ...]
    indices: tuple[int, ...]  # the simulation each row of truths and ranks comes from
    fit_warnings: tuple[tuple[str, int], ...] = ()  # each sampler warning, and in how many fits

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return self.verdict == "pass"

    def to_json(self) -> dict[str, Any]:
        """The verdict and the per-parameter results as plain values."""
        out: dict[str, Any] = {
            "verdict": self.verdict, "backend": self.backend,
            "simulations": self.simulations, "alpha": self.alpha,
            "failed_fits": [{"simulation": f.index, "seed": f.seed, "error": f.error}
                            for f in self.failures],
            "fit_warnings": dict(self.fit_warnings),
            "parameters": {p.name: {"verdict": "pass" if p.passed else "fail",
                                    "p_value": p.p_value, "inside_band": p.inside_band,
                                    "shape": p.shape, "meaning": p.meaning}
                           for p in self.parameters},
        }
        if self.tarp is not None:
            out["tarp"] = {"verdict": "pass" if self.tarp.passed else "fail",
                           "p_value": self.tarp.p_value, "inside_band": self.tarp.inside_band,
                           "shape": self.tarp.shape, "meaning": self.tarp.meaning}
        return out

    def to_dataset(self):
        """An ``xarray.Dataset``: ``truth`` and ``rank`` (simulation, parameter), the ECDF
        band (``band_lower``, ``band_upper`` at ``point``), the p-values, and TARP's
        coverage curve with its bootstrap band (at ``credibility``)."""
        import xarray as xr

        variables = {
            "truth": (("simulation", "parameter"), self.truths),
            "rank": (("simulation", "parameter"), self.ranks),
            "p_value": (("parameter",), np.array([p.p_value for p in self.parameters])),
            "band_lower": (("point",), self.band.lower),
            "band_upper": (("point",), self.band.upper),
        }
        coords = {"simulation": list(self.indices), "parameter": list(self.names),
                  "point": self.band.points}
        if self.tarp is not None:
            t = self.tarp.numbers
            variables.update({"tarp_coverage": (("credibility",), t.coverage),
                              "tarp_lower": (("credibility",), t.coverage_lower),
                              "tarp_upper": (("credibility",), t.coverage_upper)})
            coords["credibility"] = t.credibility
        return xr.Dataset(variables, coords=coords,
                          attrs={"verdict": self.verdict, "backend": self.backend})

    def plot(self, folder: str | Path, format: str = "png") -> list[Path]:
        """Write the plots in ``folder`` (made if needed) as ``format`` files (``"png"`` or
        ``"svg"``); returns their paths."""
        from ppl.validation.plots import FORMATS, write_plots

        if format not in FORMATS:
            raise SamplingError([error(f"cannot write plots as '{format}'",
                                       hint="use format='png' or format='svg'")])
        return write_plots(self, Path(folder), format)

    def _repr_html_(self) -> str:
        """Jupyter's view: the verdicts and the plots."""
        from ppl.validation.plots import html

        return html(self)

    def __str__(self) -> str:
        lines = [f"validation of {self.backend} on {self.simulations} simulations: "
                 f"{self.verdict.upper()}"]
        for p in self.parameters:
            lines.append(f"  {p.name:<16} {'pass' if p.passed else 'FAIL'}  "
                         f"p = {p.p_value:.3f}  {p.meaning}")
        if self.tarp is not None:
            lines.append(f"  {'TARP':<16} {'pass' if self.tarp.passed else 'FAIL'}  "
                         f"p = {self.tarp.p_value:.3f}  {self.tarp.meaning}")
        for message, count in self.fit_warnings[:3]:
            lines.append(f"  warning in {count} of {len(self.indices)} fits: {message}")
        if self.failures:
            lines.append(f"  {len(self.failures)} fits failed (left out); the first: "
                         f"{self.failures[0].error}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ParameterDraws:
    """What a worker keeps of a fit: the draws (chain, draw, scalar) of ``names``, flattened
    in C order (a module-level class, so that Dask can send it to workers)."""

    names: tuple[str, ...]

    def __call__(self, fit: Any) -> np.ndarray:
        posterior = fit["posterior"]
        parts = [np.asarray(posterior[n].values, dtype=float) for n in self.names]
        return np.concatenate([p.reshape(p.shape[0], p.shape[1], -1) for p in parts], axis=2)


def scalar_names(name: str, shape: tuple[int, ...]) -> list[str]:
    """``name`` for a scalar, ``name[i,j]`` (1-based, C order) for each element otherwise."""
    if not shape:
        return [name]
    return [f"{name}[{','.join(str(i + 1) for i in index)}]" for index in np.ndindex(shape)]


def validate(model: Any, data: Any = None, simulations: int = 100, backend: str = "nuts", *,
             method: str | Sequence[str] = METHODS, cluster: Any = "local",
             workers: int | None = None, seed: int = 0, alpha: float = 0.05,
             report: str | Path | None = None, progress: bool = False,
             vectorised: bool = False, **options: Any) -> Validation:
    """Check that ``backend`` recovers what ``model`` simulates (see :meth:`ppl.Model.validate`).
    With ``vectorised`` the fits are one ``jax.vmap``-ed NUTS program on this process's
    device (:mod:`ppl.validation.vectorised`) instead of tasks on ``cluster``."""
    methods = _methods(method)
    if vectorised:
        _check_vectorised(backend, options)
    if isinstance(simulations, bool) or not isinstance(simulations, int) or simulations < 2:
        raise SamplingError([error(f"simulations must be an integer >= 2, not {simulations!r}",
                                   hint="pass simulations=100 or more (a few hundred for a "
                                        "sharp test)")])
    if not 0 < alpha < 1:
        raise SamplingError([error(f"alpha must be between 0 and 1, not {alpha!r}",
                                   hint="pass alpha=0.05")])
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or \
            not 0 <= seed < 2**32:
        raise SamplingError([error(f"seed must be an integer from 0 to {2**32 - 1}, not "
                                   f"{seed!r}", hint="pass seed=0, or any other in that range")])
    simulated = model.sample_prior_predictive(data, draws=simulations, seed=seed)
    base = dict(data_module.as_mapping(data)) if data is not None else {}
    declared = {s.name for s in model.checked.symbols.values() if s.data_decl is not None}
    # generated quantities are simulated too, but only declared data go into the data sets
    observed = [n for n in simulated["prior_predictive"].data_vars if n in declared]
    if not observed:
        raise SamplingError([error("the model has no observed quantity to simulate",
                                   hint="validation simulates data from a '~' statement "
                                        "whose left side is data")], model.source)
    datasets = [{**base, **{name: np.asarray(simulated["prior_predictive"][name].values[0, i])
                            for name in observed}} for i in range(simulations)]
    latent = model.compile(datasets[0]).latent_names
    prior = simulated["prior"]
    truths = np.concatenate([np.asarray(prior[n].values[0], dtype=float)
                             .reshape(simulations, -1) for n in latent], axis=1)
    names = tuple(s for n in latent for s in scalar_names(n, prior[n].shape[2:]))
    fit_seeds = simulation_seeds(seed + 1, simulations)
    if vectorised:
        outcomes = fit_vectorised(model, datasets, fit_seeds, **options)
    else:
        outcomes = fit_many(model, datasets, backend, cluster=cluster, workers=workers,
                            seeds=fit_seeds, keep=ParameterDraws(tuple(latent)),
                            progress=progress, **options)
    good = [o for o in outcomes if o.ok]
    if len(good) < 2:
        first = next((o.error for o in outcomes if not o.ok), "")
        raise SamplingError([error(f"{len(outcomes) - len(good)} of {simulations} fits failed, "
                                   f"too many to check anything; the first: {first}",
                                   hint="fix what the first error says and run again")],
                            model.source)
    result = summarise(truths[[o.index for o in good]], [o.fit for o in good], names, methods,
                       alpha=alpha, seed=seed, simulations=simulations,
                       backend=f"{backend} (vectorised)" if vectorised else backend,
                       failures=tuple(o for o in outcomes if not o.ok),
                       indices=[o.index for o in good])
    counts = Counter(w for o in good for w in o.warnings)
    result = dataclasses.replace(result, fit_warnings=tuple(counts.most_common()))
    if report is not None:
        result.plot(report)
    return result


def summarise(truths: np.ndarray, draws: list[np.ndarray], names: Sequence[str],
              methods: Sequence[str] = METHODS, *, alpha: float = 0.05, seed: int = 0,
              backend: str = "", simulations: int | None = None,
              failures: tuple[FitOutcome, ...] = (),
              indices: Sequence[int] | None = None) -> Validation:
    """The checks of a study from the truths (simulation, scalar) and each simulation's draws
    (chain, draw, scalar)."""
    checks = len(names) * ("sbc" in methods) + ("tarp" in methods)
    level = alpha / max(checks, 1)
    band = calibration.simultaneous_band(len(truths), alpha, seed)
    ranks = calibration.fractional_ranks(truths, draws, seed)
    parameters = []
    if "sbc" in methods:
        for k, name in enumerate(names):
            test = calibration.uniformity(ranks[:, k], band)
            passed = test.p_value >= level
            parameters.append(ParameterCheck(name, passed, test.p_value, test.inside,
                                             test.shape,
                                             "" if passed else MEANINGS["sbc"][test.shape]))
    tarp = None
    if "tarp" in methods:
        numbers = calibration.tarp(truths, draws, seed, alpha)
        test = calibration.uniformity(numbers.fractions, band)
        passed = test.p_value >= level
        tarp = TarpCheck(passed, test.p_value, test.inside, test.shape,
                         "" if passed else MEANINGS["tarp"][test.shape], numbers)
    passed = all(p.passed for p in parameters) and (tarp is None or tarp.passed)
    return Validation("pass" if passed else "fail", tuple(parameters), tarp, tuple(names),
                      truths, ranks, band, alpha, backend,
                      len(truths) if simulations is None else simulations, failures,
                      tuple(range(len(truths)) if indices is None else indices))


def _check_vectorised(backend: str, options: dict) -> None:
    unknown = sorted(set(options) - set(VECTORISED_OPTIONS))
    if backend != "nuts" or unknown:
        what = f"backend '{backend}'" if backend != "nuts" else f"option {unknown[0]}"
        raise SamplingError([error(f"the vectorised path does not take the {what}",
                                   hint="it runs NUTS with chains, draws, warmup and "
                                        "target_accept; leave vectorised out for the others")])


def _methods(method: str | Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(m.strip().lower() for m in
                   (method.split(",") if isinstance(method, str) else method))
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise SamplingError([error(f"unknown validation method {', '.join(unknown) or '(none)'}",
                                   hint="use 'sbc', 'tarp' or both ('sbc,tarp')")])
    return chosen
