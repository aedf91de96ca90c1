"""NUTS and static HMC chains, driven in chunks from Python.

NumPyro supplies the kernels through its functional API (``numpyro.infer.hmc.hmc``: the
transition, dual-averaging step size, windowed mass-matrix adaptation). NumPyro's ``MCMC`` loop
runs all iterations in one compiled call, so it cannot be interrupted, shows progress only
through per-iteration host callbacks, and offers no point between warm-up and sampling to look
at the chains. What this module adds:

- **energies that cannot fail silently**: a potential energy that is NaN or ``-inf`` counts as
  ``+inf``, and the kinetic energy is computed scaled (``r' M^-1 r`` of momenta near 1e200
  overflows, and NumPyro turns only a NaN energy change into a divergence, so an overflow to
  ``-inf`` was accepted as certain). Any non-finite energy along a trajectory is a divergence.
- **chunks**: one compiled program advances every chain by up to ``capacity`` iterations (the
  count is an argument, so warm-up, sampling and the last short chunk share it); between chunks
  the progress bar moves and Ctrl-C stops the run, keeping the draws so far.
- **recovery at the end of warm-up**: a chain whose step size collapsed or that stopped moving
  is restarted from a healthy chain's adapted state before sampling begins, and the fit says so.
- **resumable state**: the final positions, step sizes and mass matrices, from which more draws
  are taken without another warm-up.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.hmc import hmc
from numpyro.infer.hmc_util import euclidean_kinetic_energy
from numpyro.infer.util import ParamInfo

from ppl.backends import keys as random_keys
from ppl.backends.chain_layout import ChainLayout, DataBox, plain_jit
from ppl.backends.metric_choice import MetricChoice, choose_metric, slow_windows
from ppl.backends.target_choice import (
    RAISED_TARGET_ACCEPT,
    TargetChoice,
    choose_target,
    judged_windows,
)
from ppl.errors import PerformanceWarning, warn_user
from ppl.jax_settings import CHUNK_COMPILE, QUICK_COMPILE

# The most iterations one chunk holds, and the bytes its buffer of draws may take.
MAX_CHUNK = 1000
CHUNK_BYTES = 64 * 2**20
# Chunks are sized so that one takes about this long: the progress bar stays live and Ctrl-C
# is answered within about this time.
TARGET_CHUNK_SECONDS = 1.0
FIRST_CHUNK = 10

# End of warm-up: a chain is unhealthy when its step size is below the chains' median divided
# by COLLAPSE_RATIO, or when in the last RECENT_WINDOW warm-up iterations it moved in fewer than
# MIN_MOVED_FRACTION of them.
COLLAPSE_RATIO = 10.0
RECENT_WINDOW = 50
MIN_MOVED_FRACTION = 0.2

# Static HMC takes trajectory_length / step_size leapfrog steps per iteration, which grows
# without bound as the step size collapses (seconds per iteration, a run that never ends). The
# trajectory is cut short at this many steps, as many as NUTS's default tree depth allows.
MAX_LEAPFROG_STEPS = 1024


@dataclass(frozen=True)
class KernelConfig:
    """The kernel's settings: ``algo`` is ``"NUTS"`` or ``"HMC"``; HMC takes ``num_steps``
    or, without it, ``trajectory_length``."""

    algo: str = "NUTS"
    target_accept: float = 0.8
    dense: bool = True
    max_tree_depth: int = 10
    trajectory_length: float | None = None
    num_steps: int | None = None
    # dense: keep the dense metric or its diagonal, by the warm-up's draws (metric_choice)
    measure_metric: bool = False
    # raise target_accept where the warm-up's judged metric windows diverge (target_choice)
    raise_target: bool = False


@dataclass(frozen=True)
class ChainsRun:
    """What a run of the chains produced. ``draws``: name -> (chains, draws, ...) per
    iteration after warm-up (``z`` the unconstrained positions). ``state``: the final positions,
    step sizes and inverse mass matrices (see :func:`resume_state`). ``notes``: what happened
    that the user must hear (recovered chains, an interruption)."""

    draws: dict[str, np.ndarray]
    state: dict[str, np.ndarray]
    notes: tuple[str, ...] = ()
    interrupted: bool = False
    recovered: tuple[tuple[int, int], ...] = ()  # (chain, donor), 1-based
    warmup_stats: dict[str, np.ndarray] = field(default_factory=dict)
    metric: MetricChoice | None = None  # where the warm-up chose it (KernelConfig.measure_metric)
    target: TargetChoice | None = None  # where the warm-up chose it (KernelConfig.raise_target)


def guarded_potential(log_density: Callable) -> Callable:
    """``-log_density``, with NaN and ``-inf`` (a log-density of NaN or ``+inf``) as ``+inf``,
    which the kernels reject as a divergence. Of the position's type: the chains' state then
    has the same types however its first energy was found (see :func:`given_start_values`)."""

    def potential(u):
        energy = -jnp.asarray(log_density(u), jnp.result_type(u))
        return jnp.where(jnp.isnan(energy) | (energy == -jnp.inf), jnp.inf, energy)

    return potential


def guarded_kinetic_energy(inverse_mass_matrix, r):
    """``r' M^-1 r / 2`` computed on ``r / max|r|`` and scaled back, so that large momenta give
    ``+inf`` rather than an overflow to NaN or ``-inf``; anything not finite is ``+inf``."""
    scale = jnp.max(jnp.abs(r))
    safe = jnp.where(scale > 0, scale, 1.0)
    x = r / safe
    v = inverse_mass_matrix @ x if inverse_mass_matrix.ndim == 2 else inverse_mass_matrix * x
    energy = (0.5 * jnp.dot(v, x) * safe) * safe
    return jnp.where(jnp.isfinite(energy), jnp.maximum(energy, 0.0), jnp.inf)


# The kernels differentiate the kinetic energy through this attribute when present: M^-1 r,
# which NumPyro's own function computes (no overflow concerns: its value is only used to move).
guarded_kinetic_energy._kinetic_grad = euclidean_kinetic_energy._kinetic_grad


def _kernels(log_density: Callable, config: KernelConfig):
    init_kernel, sample_kernel = hmc(potential_fn=guarded_potential(log_density),
                                     kinetic_fn=guarded_kinetic_energy, algo=config.algo)
    if config.algo == "HMC" and config.num_steps is None:
        sample_kernel = capped_steps(sample_kernel, _trajectory_length(config))
    return init_kernel, sample_kernel


def _trajectory_length(config: KernelConfig) -> float:
    return config.trajectory_length if config.trajectory_length is not None else 2 * np.pi


def capped_steps(sample_kernel: Callable, trajectory_length: float,
                 cap: int = MAX_LEAPFROG_STEPS) -> Callable:
    """Static HMC's transition with at most ``cap`` leapfrog steps: the kernel takes
    ``ceil(length / step_size)`` steps of ``length / steps``, so a length of
    ``(cap - 1/2) * step_size`` gives exactly ``cap`` steps of about the adapted size. The state
    keeps the length used, so that a shortened trajectory can be counted
    (:func:`shortened`)."""

    def step(state):
        eps = state.adapt_state.step_size
        length = jnp.minimum(trajectory_length, (cap - 0.5) * eps)
        length = length.astype(jnp.result_type(state.trajectory_length))  # the carry's type
        return sample_kernel(state._replace(trajectory_length=length))

    return step


def shortened(trajectory_lengths: np.ndarray, trajectory_length: float) -> np.ndarray:
    """The iterations whose trajectory :func:`capped_steps` cut short."""
    return np.asarray(trajectory_lengths) < trajectory_length * (1 - 1e-9)


def _init_function(init_kernel, config: KernelConfig, warmup: int, adapt: bool = True
                   ) -> Callable:
    """``init(point, key, resumed)``: a chain's first state; ``resumed`` is empty or holds the
    ``step_size`` and ``inverse_mass_matrix`` a resumed chain keeps."""
    def init(point, key, resumed):
        return init_kernel(
            point, num_warmup=warmup, step_size=resumed.get("step_size", 1.0),
            inverse_mass_matrix=resumed.get("inverse_mass_matrix"), adapt_step_size=adapt,
            adapt_mass_matrix=adapt, dense_mass=config.dense,
            target_accept_prob=config.target_accept, num_steps=config.num_steps,
            trajectory_length=_trajectory_length(config),
            max_tree_depth=config.max_tree_depth, rng_key=key)
    return init


def chunk_capacity(total: int, chains: int, dimension: int) -> int:
    """Iterations per chunk buffer: at most ``MAX_CHUNK``, the run's length, and what fits in
    ``CHUNK_BYTES`` of draws."""
    per_iteration = 8 * chains * max(dimension, 1) + 64 * chains
    return int(max(1, min(total, MAX_CHUNK, CHUNK_BYTES // per_iteration)))


@contextmanager
def interruptible() -> Iterator[Callable[[], bool]]:
    """While active, the first Ctrl-C (SIGINT) only raises a flag that the returned function
    reads, so that the run stops after the current chunk; a second one interrupts at once.
    Outside the main thread (where signals cannot be caught) the flag never rises."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    raised: list[bool] = []

    def handler(signum, frame):
        if raised:
            raise KeyboardInterrupt
        raised.append(True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(raised)
    finally:
        signal.signal(signal.SIGINT, previous)


class _Progress:
    """A rich progress bar on standard error, moved between chunks (or nothing)."""

    def __init__(self, enabled: bool, total: int):
        self.bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(),
                                TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
                                console=Console(stderr=True), transient=False)
            self.task = self.bar.add_task("warm-up", total=total, note="")
            self.bar.start()

    def update(self, advance: int, phase: str, divergences: int) -> None:
        if self.bar is not None:
            note = f"{divergences} divergent" if divergences else ""
            self.bar.update(self.task, advance=advance, description=phase, note=note)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def unhealthy_chains(step_sizes: np.ndarray, moved: np.ndarray) -> list[tuple[int, str]]:
    """(chain, reason) for chains whose step size collapsed or that stopped moving; ``moved``
    is the (chains, iterations) mask of recent warm-up iterations that changed the position."""
    median = float(np.median(step_sizes))
    found = []
    for c, (eps, fraction) in enumerate(zip(step_sizes, moved.mean(axis=1), strict=True)):
        if not np.isfinite(eps) or eps < median / COLLAPSE_RATIO:
            found.append((c, f"its step size collapsed to {eps:.2g} (median over the chains "
                             f"{median:.2g})"))
        elif fraction < MIN_MOVED_FRACTION:
            found.append((c, f"it moved in only {fraction:.0%} of its last {moved.shape[1]} "
                             "warm-up iterations"))
    return found


def _moved(z: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """(chains, n) mask of iterations whose position differs from the one before."""
    before = np.concatenate([previous[:, None], z[:, :-1]], axis=1)
    return np.any(z != before, axis=-1)


def layout_of(log_density: Callable, config: KernelConfig, warmup: int, adapt: bool,
              method: str, capacity: int, chains: int = 1, jit: Callable = plain_jit
              ) -> ChainLayout:
    """The compiled programs of a run: ``log_density(u, data)`` is the target, with the data
    an argument of the programs (so a cached layout serves any data of the same shapes)."""
    box = DataBox()
    init_kernel, sample_kernel = _kernels(lambda u: log_density(u, box.value), config)
    init = _init_function(init_kernel, config, warmup, adapt=adapt)
    return ChainLayout(method, init, sample_kernel, capacity, box, chains, jit)


def in_double_precision(log_density: Callable, own: Any) -> Callable:
    """``log_density(u, data)`` of a model of type ``own`` for chains that move in double
    precision: NumPyro's kernels make the step size of JAX's widest float (ppl's programs run
    in 64-bit), so positions of single precision came out of the first leapfrog step in double
    and the tree building failed on the mixed types. The model reads the position in its own
    precision (the sampler's own arithmetic is cheap beside the model's)."""
    if jnp.dtype(own) == jnp.float64:
        return log_density
    return lambda u, data: log_density(u.astype(own), data)


def run_chains(log_density: Callable, config: KernelConfig, points, key, warmup: int,
               draws: int, method: str, progress: bool = False,
               resume: dict | None = None, *, data: Any = None,
               programs: Callable[[Hashable, Callable[[], ChainLayout]], ChainLayout]
               | None = None,
               stored: Callable[..., Callable] | None = None,
               checked_points: Callable[[], Any] | None = None,
               start_values: tuple[np.ndarray, np.ndarray] | None = None) -> ChainsRun:
    """Warm up and sample ``len(points)`` chains from ``points`` (chains, dimension), which
    move in double precision whatever the model's (see :func:`in_double_precision`).

    ``checked_points``: given when ``points`` were not checked; where the log density or its
    gradient is not finite at one of them, the chains start at ``checked_points()`` instead.
    ``start_values``: the potential energy (the negated log density) and its gradient at
    each point, where the caller has them (see :func:`given_start_values`).

    ``log_density(u)``, or with ``data`` given ``log_density(u, data)``: the data then go into
    the compiled programs as an argument. ``programs(key, build)`` (a model's
    :class:`~ppl.codegen.programs.ProgramCache`, keyed by its data signature) keeps the
    compiled programs for the next run of the same settings and data shapes;
    ``stored(key, function, **placement)`` (a model's
    :meth:`~ppl.codegen.model.CompiledModel.stored`) keeps their traces on disk for the next
    process.

    With ``resume`` (a :class:`ChainsRun` ``state``: positions, step sizes, inverse mass
    matrices) the chains continue from it with fixed adaptation and no warm-up.
    """
    if data is None:
        data, target = {}, log_density
        log_density = lambda u, _: target(u)  # noqa: E731
    log_density = in_double_precision(log_density, jnp.result_type(points))
    points = jnp.asarray(points, jnp.float64)
    chains, dimension = points.shape
    keys = random_keys.split(key, chains)
    kwargs = {}
    if resume is not None:
        warmup = 0
        points = jnp.asarray(resume["position"], points.dtype)
        kwargs = {"step_size": jnp.asarray(resume["step_size"], points.dtype),
                  "inverse_mass_matrix": jnp.asarray(resume["inverse_mass_matrix"],
                                                     points.dtype)}
    def layout_for(kernel: KernelConfig) -> ChainLayout:
        return _layout(log_density, kernel, chains, dimension, warmup, draws, method,
                       resume is None, programs, stored)

    layout = layout_for(config)
    capacity = layout.capacity
    data = layout.place_data(data)
    state = layout.init(points if start_values is None or resume is not None else
                        given_start_values(points, *start_values), keys, data, **kwargs)
    if checked_points is not None and not _finite_starts(layout, state):
        points = jnp.asarray(checked_points(), points.dtype)
        state = layout.init(points, keys, data, **kwargs)
    bar = _Progress(progress, warmup + draws)
    kept: dict[str, list] = {}
    warmup_stats: dict[str, list] = {"step_size": [], "diverging": [], "num_steps": []}
    recent: list[np.ndarray] = []
    notes: list[str] = []
    recovered: list[tuple[int, int]] = []
    last = np.asarray(points)
    done = size = 0
    # the windows that adapt the metric, the next first; the metric is chosen at each end,
    # the target acceptance rate at the end of the last judged one
    choose_dense = config.dense and config.measure_metric
    windows = slow_windows(warmup) if choose_dense or config.raise_target else []
    judged = judged_windows(len(windows)) if config.raise_target else ()
    window_draws: list[np.ndarray] = []
    divergent = judged_iterations = 0  # in the judged windows so far
    metric = chosen_target = None
    divergences = 0
    cut_short = {"warm-up": 0, "sampling": 0}
    capped = config.algo == "HMC" and config.num_steps is None
    interrupted = False
    try:
        with interruptible() as stop_requested:
            while done < warmup + draws:
                phase_end = warmup if done < warmup else warmup + draws
                if windows:
                    phase_end = windows[0][1] + 1  # the metric is chosen where it is fixed
                n = min(FIRST_CHUNK if size == 0 else size, phase_end - done, capacity)
                began = time.perf_counter()
                state, records = layout.advance(state, n, data)
                elapsed = time.perf_counter() - began
                if size == 0:
                    size = FIRST_CHUNK  # the first chunk's time includes compilation
                else:
                    size = int(np.clip(n * TARGET_CHUNK_SECONDS / max(elapsed, 1e-9), 1,
                                       capacity))
                moved = _moved(records["z"], last)
                last = records["z"][:, -1]
                lengths = records.pop("trajectory_length")
                if capped:
                    phase = "warm-up" if done < warmup else "sampling"
                    cut_short[phase] += int(shortened(lengths, _trajectory_length(config)).sum())
                if windows:
                    window_draws.append(records["z"][:, max(0, windows[0][0] - done):])
                    if len(windows) in judged:  # counted from the end
                        window_part = records["diverging"][:, max(0, windows[0][0] - done):]
                        divergent += int(window_part.sum())
                        judged_iterations += window_part.size
                if done < warmup:
                    for k in warmup_stats:
                        warmup_stats[k].append(records[k])
                    recent.append(moved)
                else:
                    divergences += int(records["diverging"].sum())
                    for k, v in records.items():
                        kept.setdefault(k, []).append(v)
                done += n
                if windows and done == windows[0][1] + 1:
                    if choose_dense:
                        state, metric = _chosen_metric(layout, state, window_draws)
                    if judged and len(windows) == min(judged):
                        chosen_target = choose_target(divergent, judged_iterations)
                        if chosen_target.raised:  # the later windows adapt the step size to it
                            layout = layout_for(replace(
                                config, target_accept=RAISED_TARGET_ACCEPT,
                                raise_target=False)).following(layout)
                    windows, window_draws = windows[1:], []
                bar.update(n, "warm-up" if done <= warmup else "sampling", divergences)
                if done == warmup and warmup >= RECENT_WINDOW:  # shorter: too little to judge
                    state, recovered, lost = _recover(layout, state,
                                                      np.concatenate(recent, axis=1))
                    notes += [_recovery_note(c, d, why) for c, d, why in recovered] + lost
                if stop_requested() and done < warmup + draws:
                    if done <= warmup:
                        raise KeyboardInterrupt
                    interrupted = True
                    notes.append(f"sampling was interrupted after {done - warmup} of {draws} "
                                 "draws per chain: the fit holds the draws so far (a partial "
                                 "fit); Model.resume adds more without another warm-up")
                    break
    finally:
        bar.close()
    if sum(cut_short.values()):
        notes.append(_cut_short_note(cut_short, done, warmup, chains, config))
    out = {k: np.concatenate(v, axis=1) for k, v in kept.items()}
    final = {"position": layout.field(state, lambda s: s.z),
             "step_size": layout.field(state, lambda s: s.adapt_state.step_size),
             "inverse_mass_matrix": layout.field(state,
                                                 lambda s: s.adapt_state.inverse_mass_matrix)}
    return ChainsRun(out, final, tuple(notes), interrupted,
                     tuple((c + 1, d + 1) for c, d, _ in recovered),
                     {k: np.concatenate(v, axis=1) for k, v in warmup_stats.items() if v},
                     metric, chosen_target)


def given_start_values(points, potential_energies, gradients) -> ParamInfo:
    """The chains' starts with their potential energies and its gradients, which NumPyro's
    init kernel then takes instead of evaluating the potential: an init program without the
    model's gradient compiles in a fraction of the time (hmm_example, cold: traced and compiled
    in 0.4 against 1.5 s), where the caller evaluated the points already (the climbs' starts).
    A NaN or ``-inf`` energy is ``+inf``, as :func:`guarded_potential` makes it. Given shapes
    and types (``jax.ShapeDtypeStruct``), the shapes and types of those arguments."""
    if isinstance(points, jax.ShapeDtypeStruct):
        return ParamInfo(points, jax.ShapeDtypeStruct(points.shape[:1], points.dtype), points)
    dtype = jnp.result_type(points)
    energies = np.asarray(potential_energies, dtype)
    energies = np.where(np.isnan(energies) | (energies == -np.inf), np.inf, energies)
    return ParamInfo(points, jnp.asarray(energies), jnp.asarray(np.asarray(gradients, dtype)))


def _finite_starts(layout: ChainLayout, state) -> bool:
    """Whether every chain's log density and gradient are finite where it starts."""
    energies = layout.field(state, lambda s: s.potential_energy)
    gradients = layout.field(state, lambda s: s.z_grad)
    return bool(np.all(np.isfinite(energies)) and np.all(np.isfinite(gradients)))


# XLA's options per program: the init program runs once, the chunk program all the time.
COMPILER_OPTIONS = {"init": QUICK_COMPILE, "chunk": CHUNK_COMPILE}


def _layout(log_density: Callable, config: KernelConfig, chains: int, dimension: int,
            warmup: int, draws: int, method: str, adapt: bool, programs, stored) -> ChainLayout:
    """The run's programs: kept by ``programs`` per settings (and data shapes), traced through
    ``stored`` (see :func:`run_chains`)."""
    capacity = chunk_capacity(warmup + draws, chains, dimension)
    settings = (config, warmup, adapt, method, capacity, chains)

    def jit(name: str, function: Callable, **placement) -> Callable:
        placement["compiler_options"] = COMPILER_OPTIONS[name]
        return stored(("hmc_chains", name) + settings, function, **placement)

    def build() -> ChainLayout:
        return layout_of(log_density, *settings, jit=plain_jit if stored is None else jit)

    return build() if programs is None else programs(("hmc_chains",) + settings, build)


def compile_chains_ahead(log_density: Callable, config: KernelConfig, points: Any, key,
                         warmup: int, draws: int, method: str, *, data: Any,
                         programs: Callable, stored: Callable, given_values: bool = False,
                         **resumed: Any) -> str:
    """Start compiling the programs that :func:`run_chains` will run with the same arguments,
    on threads, while the caller finds the starting points: ``points`` only needs a shape and
    a type (a ``jax.ShapeDtypeStruct`` (chains, dimension)), and so does ``key`` (the run's
    key) and each of ``resumed`` (a resumed run's step sizes and inverse mass matrices). The
    run then finds them in ``programs`` and waits for them where they are not done
    (``given_values``: for a run given ``start_values``). Eight
    schools, 4 chains, cold: the starting points, the init program's and the chunk program's
    compilations (0.7, 0.6 and 1.3 s) share the machine's two cores instead of following one
    another.

    Returns the chain method the run is to use: ``method``, except that a model whose
    programs cannot be traced split over the devices (diffrax's checkpointed ODE adjoint
    inside ``shard_map``: equinox's closure conversion fails) runs its parallel chains
    vectorised, with a :class:`PerformanceWarning`. An error of the model itself is raised
    by the vectorised trace too."""
    chains, dimension = points.shape
    keys = jax.ShapeDtypeStruct((chains,) + tuple(key.shape), key.dtype)
    adapt = not resumed
    # as run_chains places them
    log_density = in_double_precision(log_density, points.dtype)
    points = jax.ShapeDtypeStruct(points.shape, jnp.float64)
    resumed = {name: jax.ShapeDtypeStruct(value.shape, jnp.float64)
               for name, value in resumed.items()}
    if given_values:
        points = given_start_values(points, None, None)
    try:
        _layout(log_density, config, chains, dimension, warmup, draws, method, adapt,
                programs, stored).compile_ahead(points, keys, data, **resumed)
        return method
    except Exception as failure:  # noqa: BLE001 - the vectorised trace raises a model's own
        if method != "parallel":
            raise
        reason = f"{type(failure).__name__}: {str(failure).splitlines()[0][:200]}"
    _layout(log_density, config, chains, dimension, warmup, draws, "vectorized", adapt,
            programs, stored).compile_ahead(points, keys, data, **resumed)
    warn_user(f"the chains ran vectorised on one device: this model's programs cannot be "
              f"split over the devices ({reason})", PerformanceWarning)
    return "vectorized"


def _chosen_metric(layout: ChainLayout, state, window_draws: list[np.ndarray]
                   ) -> tuple[Any, MetricChoice]:
    """At the end of a slow window: the state with the metric the window's draws
    choose (:func:`~ppl.backends.metric_choice.choose_metric`), and the choice."""
    choice = choose_metric(np.concatenate(window_draws, axis=1),
                           layout.field(state, lambda s: s.adapt_state.inverse_mass_matrix))
    if choice.metric == "diagonal":
        state = layout.diagonal_metric(state)
    return state, choice


def _cut_short_note(cut_short: dict[str, int], done: int, warmup: int, chains: int,
                    config: KernelConfig) -> str:
    """What the user must hear when :func:`capped_steps` shortened trajectories."""
    total = sum(cut_short.values())
    return (f"the trajectory was cut short at {MAX_LEAPFROG_STEPS} leapfrog steps in {total} "
            f"of {done * chains} iterations ({cut_short['warm-up']} in warm-up, "
            f"{cut_short['sampling']} while sampling): trajectory_length="
            f"{_trajectory_length(config):.3g} needs more steps than that at the adapted step "
            "size, so the draws move less far than asked; lower trajectory_length, use the "
            "nuts backend, or reparameterise (a collapsing step size means the posterior is "
            "hard somewhere)")


def _recover(layout: ChainLayout, state, moved: np.ndarray):
    """Restart unhealthy chains from healthy ones (see :func:`unhealthy_chains`); the donors
    are the healthy chains in turn, nearest the median step size first. Returns the new state,
    the (chain, donor, reason) restarts and notes on chains that could not be restarted."""
    step_sizes = layout.field(state, lambda s: s.adapt_state.step_size)
    bad = unhealthy_chains(step_sizes, moved[:, -RECENT_WINDOW:])
    bad_chains = {c for c, _ in bad}
    healthy = [c for c in range(len(step_sizes)) if c not in bad_chains]
    if not healthy:
        return state, [], [f"chain {c + 1} is unhealthy at the end of warm-up ({why}) and no "
                           "healthy chain could replace it: do not trust this fit; try "
                           "init='laplace', a longer warm-up, dense_mass=False or a "
                           "reparameterisation" for c, why in bad]
    median = np.median(step_sizes[healthy])
    healthy.sort(key=lambda c: abs(np.log(step_sizes[c] / median)))
    recovered = []
    for i, (chain, why) in enumerate(bad):
        donor = healthy[i % len(healthy)]
        state = layout.copy_chain(state, chain, donor)
        recovered.append((chain, donor, why))
    return state, recovered, []


def _recovery_note(chain: int, donor: int, why: str) -> str:
    return (f"chain {chain + 1} was restarted from chain {donor + 1}'s adapted state at the end "
            f"of warm-up, because {why}; the draws come from healthy chains, but a region "
            "where the sampler fails often means the posterior is hard there (reparameterise, "
            "or check the model)")
