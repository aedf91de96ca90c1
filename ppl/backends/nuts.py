"""NUTS and static HMC: NumPyro's kernels and warm-up adaptation, run chunk by chunk by
:mod:`ppl.backends.hmc_chains` (guarded energies, recovery of collapsed chains, Ctrl-C keeps
the draws so far, resumable)."""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from ppl.backends import keys
from ppl.backends.base import (
    BackendResult,
    RunSettings,
    finite_initial_points,
    potential_values,
    starting_points,
    unchecked_initial_points,
    uniform_start,
)
from ppl.backends.chain_layout import devices_for
from ppl.backends.hmc_chains import (
    ChainsRun,
    KernelConfig,
    compile_chains_ahead,
    run_chains,
)
from ppl.backends.options import (
    HMC_DEFAULT_TRAJECTORY_LENGTH,
    HMC_OPTIONS,
    NUTS_OPTIONS,
    describe_options,
    validate_options,
)
from ppl.backends.target_choice import starting_target
from ppl.codegen.model import CompiledModel
from ppl.errors import PerformanceWarning, SamplingError, error
from ppl.host_devices import DEVICE_COUNT_FLAG, cores, too_late_note, wanted_host_devices
from ppl.jax_settings import in_ppl_settings

# The dense kernel by default up to this dimension, by measurement: benchmarks/bench_metric.py
# (2026-12-02, 17 conformance posteriors x seeds 0-4, the mixtures and HMMs among them) matched
# the reference in 85 of 85 fits with either metric, and the dense one's smallest bulk ESS per
# gradient was 1.0-92 times the diagonal one's (median per posterior; never below 0.79 in any
# seed). Where it does not pay (a logistic regression's 51 independent coefficients) the
# warm-up's draws choose its diagonal (ppl/backends/metric_choice.py). Above 200 dimensions (not
# measured) the O(d^2) adaptation and O(d^3) factorisation grow.
DENSE_MASS_MAX_DIMENSION = 200


def dense_metric(option: Any, dimension: int) -> bool:
    """Whether ``dense_mass=option`` gives a dense metric at this dimension."""
    if option == "auto" or option is None:
        return dimension <= DENSE_MASS_MAX_DIMENSION
    return bool(option)


def default_chain_method(chains: int) -> str:
    """Chains run in parallel on CPU devices (grouped when there are fewer devices than
    chains), else vectorised on one device (a GPU's way).

    benchmarks/chains.py (eight schools, 4 chains, warm compilation cache, this 2-core CPU):
    parallel over 4 host devices took 0.33x the time of vectorised and sequential 0.84x.
    ``import ppl`` asks JAX for the devices before it starts (:mod:`ppl.host_devices`); when
    JAX started first with one CPU device, the chains run vectorised and a
    :class:`PerformanceWarning` says so.
    """
    if chains <= 1:
        return "vectorized"
    devices = jax.local_devices()
    if len(devices) > 1 and devices_for(chains, len(devices)) > 1:
        return "parallel"
    if devices[0].platform == "cpu" and wanted_host_devices() > 1:
        _say_chains_run_vectorised()
    return "vectorized"


@functools.cache  # once per process: the cause (JAX started first) lasts as long as it does
def _say_chains_run_vectorised() -> None:
    # Python's own once-per-place filter is not enough: fits record the warnings of a run and
    # issue them again, and Jupyter resets the filters at each cell.
    warnings.warn(too_late_note(4), PerformanceWarning, stacklevel=1)


def chain_method(options: Mapping[str, Any], chains: int) -> str:
    """The chain method asked for, or the default; "parallel" needs more than one device."""
    method = options.get("chain_method") or default_chain_method(chains)
    if method == "parallel" and chains > 1 and jax.local_device_count() < 2:
        raise SamplingError([error(
            f"chain_method='parallel' needs more than one device, and JAX has "
            f"{jax.local_device_count()}",
            hint="import ppl before using JAX (it then asks for a CPU device per chain), or "
                 f"set XLA_FLAGS={DEVICE_COUNT_FLAG}={max(chains, cores())} before starting "
                 "Python; or use chain_method='vectorized' or 'sequential'")])
    return method


def starting_state(model: CompiledModel, seed: int, chains: int, init: str = "auto"
                   ) -> tuple[jax.Array, jax.Array]:
    """The random key of the run with ``seed`` and its starting points of strategy ``init``
    (see :func:`initial_points`), one per chain (a single point for one chain)."""
    run_key, inits, _ = noted_starting_state(model, seed, chains, init)
    return run_key, inits


def noted_starting_state(model: CompiledModel, seed: int, chains: int, init: str = "auto"
                         ) -> tuple[jax.Array, jax.Array, list[str]]:
    """:func:`starting_state` and the notes on the starting points (separated modes)."""
    init_key, run_key = _run_keys(seed)
    inits, notes = starting_points(model, init_key, chains, init)
    return run_key, inits if chains > 1 else inits[0], notes


def _run_keys(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The keys of the starting points and of the chains, from the run's seed."""
    init_key, run_key = keys.split(keys.seed_key(seed), 2)
    return init_key, run_key


def kernel_config(algo: str, model: CompiledModel, options: Mapping[str, Any]
                  ) -> KernelConfig:
    """The kernel settings from the backend's options."""
    return KernelConfig(
        algo=algo, target_accept=starting_target(options),
        raise_target=options.get("target_accept", "auto") == "auto",
        dense=dense_metric(options.get("dense_mass", "auto"), model.dimension),
        measure_metric=options.get("dense_mass", "auto") in ("auto", None),
        max_tree_depth=int(options.get("max_tree_depth") or 10),
        trajectory_length=options.get("trajectory_length"),
        num_steps=options.get("num_steps"))


def _attrs(config: KernelConfig, method: str, init: str | None) -> dict:
    attrs = {"target_accept": config.target_accept, "dense_mass": int(config.dense),
             "chain_method": method}
    if config.algo == "NUTS":
        attrs["max_tree_depth"] = config.max_tree_depth
    elif config.num_steps is not None:
        attrs["num_steps"] = config.num_steps
    else:
        attrs["trajectory_length"] = config.trajectory_length
    if init is not None:
        attrs["init"] = init
    return attrs


def result_of(run: ChainsRun, attrs: Mapping[str, Any]) -> BackendResult:
    """The backend result of a run of the chains: draws, per-draw statistics, what happened."""
    draws = run.draws
    num_steps = draws["num_steps"]
    stats = {
        "diverging": draws["diverging"].astype(bool),
        "n_steps": num_steps,
        "tree_depth": np.floor(np.log2(np.maximum(num_steps, 1))).astype(int) + 1,
        "step_size": draws["step_size"],
        "energy": draws["energy"],
        "lp": -draws["potential_energy"],
        "acceptance_rate": draws["accept_prob"],
    }
    attrs = dict(attrs)
    if run.recovered:
        attrs["recovered_chains"] = ",".join(f"{c} from {d}" for c, d in run.recovered)
    if run.interrupted:
        attrs["partial"] = 1
    if run.metric is not None:  # dense_mass="auto": the warm-up chose the metric
        attrs["dense_mass"] = int(run.metric.metric == "dense")
        attrs["metric"] = run.metric.note
    if run.target is not None:  # target_accept="auto": the warm-up chose it
        attrs["target_accept"] = run.target.target_accept
        attrs["target_accept_choice"] = run.target.note
    return BackendResult(draws["z"], stats, attrs=attrs, notes=run.notes, state=run.state)


def run_hmc(algo: str, model: CompiledModel, settings: RunSettings,
            options: Mapping[str, Any]) -> BackendResult:
    """Warm up and sample with the NUTS or HMC kernel (``algo``) and ``options``."""
    options = dict(options)
    init = options.get("init", "auto")
    config = kernel_config(algo, model, options)
    method = chain_method(options, settings.chains)
    checked_by_init = options.get("adaptation") != "low_rank" and uniform_start(model, init)
    # Starts that the model's value-and-gradient program evaluates anyway (the climbs'): the
    # chains' init program takes their values instead of evaluating them again
    given_values = not checked_by_init and init != "prior"
    if options.get("adaptation") != "low_rank":
        method = compile_chains_ahead(
            model.log_density_with, config,
            jax.ShapeDtypeStruct((settings.chains, model.dimension), model.dtype),
            jax.eval_shape(jax.random.PRNGKey, 0), settings.warmup, settings.draws, method,
            data=model.traced_data, programs=model.program, stored=model.stored,
            given_values=given_values)
    checked_points = None
    if checked_by_init:
        # checked by the chains' init program, which evaluates the log density and gradient
        # there anyway: no program of their own to compile (diamonds, cold: 0.6 s)
        init_key, run_key = _run_keys(settings.seed)
        points, notes = unchecked_initial_points(model, init_key, settings.chains), []
        checked_points = functools.partial(finite_initial_points, model, init_key,
                                           settings.chains)
    else:
        run_key, points, notes = noted_starting_state(model, settings.seed, settings.chains,
                                                      init)
    if options.get("adaptation") == "low_rank":
        from ppl.backends.low_rank import run_low_rank  # BlackJAX, loaded when asked for

        result = run_low_rank(model, settings, options, points, run_key, method)
        attrs = {**_attrs(config, method, init), "adaptation": "low_rank"}
        attrs.pop("dense_mass")
        return dataclasses.replace(result, attrs=attrs, notes=tuple(notes))
    points = np.reshape(points, (settings.chains, -1))
    start_values = potential_values(model, points) if given_values else None
    run = run_chains(model.log_density_with, config, points,
                     run_key, settings.warmup, settings.draws, method, settings.progress,
                     data=model.traced_data, programs=model.program,
                     stored=model.stored, checked_points=checked_points,
                     start_values=start_values)
    result = result_of(run, _attrs(config, method, init))
    return dataclasses.replace(result, notes=tuple(notes) + result.notes)


def resume_hmc(algo: str, model: CompiledModel, state: Mapping[str, np.ndarray],
               settings: RunSettings, options: Mapping[str, Any]) -> BackendResult:
    """More draws from a finished run's final ``state`` (positions, step sizes, inverse mass
    matrices), with its adaptation kept and no warm-up."""
    if options.get("adaptation") == "low_rank":
        raise SamplingError([error(
            "a fit made with adaptation='low_rank' cannot be resumed",
            hint="sample again with more draws, or use the default adaptation='windowed', "
                 "whose fits Model.resume continues")])
    config = kernel_config(algo, model, options)
    method = chain_method(options, settings.chains)
    key = keys.fold_in(keys.seed_key(settings.seed), 7)
    # in the model's precision, as a first run's starts (the chains move in double precision)
    state = {**state, "position": np.asarray(state["position"], model.dtype)}
    shapes = {k: jax.ShapeDtypeStruct(np.shape(v), np.result_type(v)) for k, v in state.items()}
    method = compile_chains_ahead(
        model.log_density_with, config, shapes.pop("position"), key, 0, settings.draws, method,
        data=model.traced_data, programs=model.program, stored=model.stored, **shapes)
    run = run_chains(model.log_density_with, config, state["position"], key, 0,
                     settings.draws, method, settings.progress, resume=dict(state),
                     data=model.traced_data, programs=model.program,
                     stored=model.stored)
    attrs = _attrs(config, method, None)
    if config.raise_target:  # the step sizes kept were adapted to the fit's own target
        del attrs["target_accept"]
    return result_of(run, attrs)


@in_ppl_settings  # its public methods run in 64-bit (see ppl.jax_settings)
class NUTS:
    name = "nuts"
    description = ("No-U-Turn sampler (NumPyro kernels) with step-size and mass-matrix "
                   "adaptation; " + describe_options(NUTS_OPTIONS))
    options = NUTS_OPTIONS

    def run(self, model: CompiledModel, settings: RunSettings, **options: Any) -> BackendResult:
        options = validate_options(self.name, options, NUTS_OPTIONS)
        if options["adaptation"] == "low_rank" and options["dense_mass"] != "auto":
            raise SamplingError([error(
                f"dense_mass={options['dense_mass']} has no effect with adaptation='low_rank'",
                hint="the low-rank adaptation chooses its own metric (a diagonal plus a "
                     "low-rank correction); leave dense_mass out, or use "
                     "adaptation='windowed'")])
        return run_hmc("NUTS", model, settings, options)

    def resume(self, model: CompiledModel, state: Mapping[str, np.ndarray],
               settings: RunSettings, **options: Any) -> BackendResult:
        return resume_hmc("NUTS", model, state, settings,
                          validate_options(self.name, options, NUTS_OPTIONS))


def _hmc_options(options: Mapping[str, Any]) -> dict:
    options = validate_options(HMC.name, options, HMC_OPTIONS)
    # A quarter period of a standardised Gaussian: after mass-matrix adaptation this gives
    # nearly independent draws, while 2 pi (NumPyro's default) returns to the start.
    if options["num_steps"] is None and options["trajectory_length"] is None:
        options["trajectory_length"] = HMC_DEFAULT_TRAJECTORY_LENGTH
    return options


@in_ppl_settings  # its public methods run in 64-bit (see ppl.jax_settings)
class HMC:
    name = "hmc"
    description = ("static-trajectory Hamiltonian Monte Carlo (NumPyro kernels) with "
                   "adaptation; " + describe_options(HMC_OPTIONS))
    options = HMC_OPTIONS

    def run(self, model: CompiledModel, settings: RunSettings, **options: Any) -> BackendResult:
        return run_hmc("HMC", model, settings, _hmc_options(options))

    def resume(self, model: CompiledModel, state: Mapping[str, np.ndarray],
               settings: RunSettings, **options: Any) -> BackendResult:
        return resume_hmc("HMC", model, state, settings, _hmc_options(options))


__all__ = ["NUTS", "HMC"]
