"""Gibbsian polar slice sampling (Schär, Habeck and Rudolf, ICML 2023): a gradient-free MCMC
backend that needs only log-density evaluations.

Polar slice sampling (Roberts and Rosenthal, 2002) writes the target density on ``R^d`` as
``p(x) = |x|^(1-d) * p1(x)`` with ``p1(x) = |x|^(d-1) p(x)``. In polar coordinates
``x = r * theta`` the Lebesgue measure is ``r^(d-1) dr dtheta``, so the factor ``|x|^(1-d)``
cancels it and a slice sampler for ``p1`` that is uniform with respect to ``dr dtheta`` targets
``p``. Gibbsian polar slice sampling (GPSS) replaces the intractable joint update by a Gibbs
sweep over the two polar components, each an exact slice-sampling move:

1. the level: ``log T = log p1(x) - Exponential(1)`` (``T ~ Uniform(0, p1(x))``);
2. the direction: the paper's geodesic shrinkage on the great circle through ``theta`` and a
   uniformly random unit vector ``y`` orthogonal to it, ``theta(w) = theta cos w + y sin w``:
   the first proposal is a uniform angle ``w`` in ``[0, 2 pi)``, the bracket ``[w - 2 pi, w]``
   (the whole circle), and each proposal below the level shrinks the bracket towards 0, from
   which the next is drawn uniformly (as elliptical slice sampling does). A shorter bracket
   (``angle`` below ``2 pi``, not the paper's) is placed at random around 0 and its first
   proposal drawn uniformly inside it;
3. the radius: the paper's stepping-out and shrinkage (Neal, 2003) on
   ``{r > 0 : p1(r theta) > T}``: a window of width ``radius_window`` placed at random around
   ``r`` (its lower end cut at 0), stepped out on each side until its end leaves the slice
   (the paper sets no limit; ``max_steps`` per side is a safety bound, and reaching it is
   counted and warned about with the exhausted loops), then shrunk towards ``r``.

What the paper specifies, read from its text's opening and its authors' published code
(github.com/microscopic-image-analysis/Gibbsian_Polar_Slice_Sampling, ``slice_sampling.py``,
and its follow-up PATT's ``gibbsian_polar_slice_sampling.py``): the transition above with
the window ``w`` a hyperparameter fixed by hand per experiment (``w = d`` for a
100-dimensional Cauchy, ``w = 5`` for a 10-dimensional funnel, ``w = 1`` by default after
PATT's affine standardisation); it gives no step-size adaptation. Each shrinkage is
reversible with respect to the uniform distribution on its slice for any fixed window, so ppl
adapts it (its own rule, not the paper's) per chain during warm-up by stochastic
approximation: ``log window`` moves towards ``TARGET_STEPS_OUT`` stepping-out steps per draw,
with gains decaying as ``k^-0.6``, and the chains' median is fixed for the kept draws. Measured
(ESS per 1000 evaluations, 4 x 1000 draws, seeds 1-2): on a 10-dimensional standard normal
and a 3-degree-of-freedom Student-t in 8 dimensions, fixed windows of 0.3, 1 and ``d`` got
64/115/129 and 45/82/150; the adapted window got 122 and 115 with a target of one step and
144 and 134 with 0.25, so a target of 0.25 is the default and no hand choice is needed.
``angle="adapt"`` adapts the direction bracket the same way (``log angle`` towards two
direction proposals per draw); it shortens the moves more than it saves evaluations (a
20-dimensional standard normal: smallest bulk ESS 8-27 against 495-596 with the whole
circle, in 4000 draws), so the whole circle, the paper's choice, is the default.

**Standardisation.** GPSS moves along spheres around the origin: a posterior far from the
origin (a mean of 100 with an sd of 0.1) is a thin shell segment of the sphere through it, and
the direction update makes tiny moves. So the sampler runs on ``z = scale^-1 (u - location)``
(see below for the scale). The warm-up is split into windows (``WARMUP_WINDOWS``, fractions of the
warm-up): the first starts from the starting points' median and unit scale, and after each
window the location and scale are re-estimated from all chains' draws of that window (their
mean and standard deviation) and the chains' positions are re-expressed in the new
coordinates. Draws of a fixed affine map of a posterior are draws of the posterior, so this
only changes efficiency; it is frozen before the kept draws. With ``dense`` (by default up
to ``DENSE_MAX_DIMENSION`` dimensions) the scale is the Cholesky factor of the draws'
covariance rather than their standard deviations: the polar moves cross a strongly correlated
posterior (a regression with uncentred predictors) slowly unless it is decorrelated, as NUTS
needs a dense mass matrix there.

Non-finite log densities are outside every slice. A shrinkage loop that has not accepted
after ``max_steps`` evaluations keeps the current component (the point its interval shrinks
to) and is counted; the count becomes a warning. A one-dimensional posterior is sampled with
an auxiliary standard normal coordinate beside it (a sphere in one dimension has no
geodesics), which is dropped from the draws.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ppl.backends.base import BackendResult, RunSettings, starting_points
from ppl.backends.options import (
    AUTO_BOOL,
    BOOL,
    FLOAT,
    INT,
    MCMC_INIT,
    Check,
    Kind,
    Option,
    at_least,
    describe_options,
    is_number,
    positive,
    validate_options,
)
from ppl.codegen.model import CompiledModel
from ppl.jax_settings import in_ppl_settings

TWO_PI = 2 * math.pi
# Warm-up windows as fractions of the warm-up; the location and scale are re-estimated at the
# end of each window but the last.
WARMUP_WINDOWS = (0.1, 0.1, 0.15, 0.25, 0.4)
# The adaptation targets (ppl's, the paper fixes its window by hand): direction proposals
# per draw and stepping-out steps per draw (see the module docstring for the measurements).
TARGET_DIRECTION_PROPOSALS = 2.0
TARGET_STEPS_OUT = 0.25
ADAPTATION_DECAY = 0.6
# A dense standardisation (the Cholesky factor of the warm-up covariance) up to this dimension,
# as the nuts backend's dense mass matrix: it decorrelates correlated regressions, which the
# polar moves otherwise cross slowly; above it the O(d^2) map per evaluation grows.
DENSE_MAX_DIMENSION = 200
# Iterations per call of the compiled program (one program serves warm-up and draws).
CHUNK = 100
# Scales below this fraction of the location's magnitude (or of 1) are floored: a coordinate
# that did not move in a warm-up window must not freeze the chain.
MIN_SCALE = 1e-8

ANGLE = Kind("a number or 'adapt'", lambda v: v == "adapt" or is_number(v), ("adapt",))

OPTIONS: tuple[Option, ...] = (
    Option("angle", ANGLE, TWO_PI,
           Check(f"in (0, {TWO_PI:.6g}] or 'adapt'",
                 lambda a: a == "adapt" or 0 < a <= TWO_PI),
           doc="the direction update's initial angle bracket in radians, the whole circle by "
               "default; 'adapt' adapts it during warm-up (measured worse, see "
               "benchmarks/README.md)"),
    Option("radius_window", FLOAT, None, positive(),
           doc="the radius update's initial window, in standardised units; adapted during "
               "warm-up unless given"),
    Option("standardise", BOOL, True,
           doc="sample the space centred and scaled by the warm-up draws"),
    Option("dense", AUTO_BOOL, "auto",
           doc="standardise with the warm-up's covariance; 'auto' is dense up to "
               f"{DENSE_MAX_DIMENSION} dimensions"),
    Option("max_steps", INT, 100, at_least(5),
           doc="the most log-density evaluations of one shrinkage loop or of the "
               "stepping out on one side"),
    MCMC_INIT,
)
"""The options of the ``gpss`` backend."""


class Chains(NamedTuple):
    """The chains' state (leading axis: chain): standardised positions, their log densities
    (of the unstandardised target), and the adapted log angle and log radius window."""

    z: jax.Array
    lp: jax.Array
    log_angle: jax.Array
    log_window: jax.Array


class Frame(NamedTuple):
    """The affine map ``u = location + factor z`` of the sampled coordinates: ``factor`` is a
    lower-triangular matrix (dense) or a vector of scales (diagonal)."""

    location: jax.Array
    factor: jax.Array

    def _lifted(self, vector, x):
        """``vector`` (one per coordinate) shaped to broadcast against ``x``."""
        return vector.reshape((1,) * (x.ndim - 1) + (-1,))

    def to_u(self, z):
        """The points ``u`` of standardised points ``z`` (last axis: the coordinates)."""
        location = self._lifted(self.location, z)
        if self.factor.ndim == 2:
            return location + z @ self.factor.T
        return location + z * self._lifted(self.factor, z)

    def to_z(self, u):
        """The standardised coordinates of points ``u`` (last axis: the coordinates)."""
        centred = u - self._lifted(self.location, u)
        if self.factor.ndim == 2:
            flat = centred.reshape(-1, centred.shape[-1])
            return jax.scipy.linalg.solve_triangular(
                self.factor, flat.T, lower=True).T.reshape(centred.shape)
        return centred / self._lifted(self.factor, u)

    def scales(self) -> np.ndarray:
        """The standard deviation of each coordinate ``u`` for a standard normal ``z``."""
        factor = np.asarray(self.factor)
        return np.sqrt(np.sum(factor**2, axis=1)) if factor.ndim == 2 else factor


def _uniform(key, low, high):
    return low + (high - low) * jax.random.uniform(key, (), low.dtype)


def gpss_transition(log_density, key, z, lp, angle, window, max_steps):
    """One GPSS draw of one chain on the standardised space.

    ``log_density(z)`` is the target's log density there (non-finite values count as outside
    the slice); ``lp`` its value at ``z``. Returns the new ``(z, lp)`` and the statistics
    ``(evaluations, direction proposals, stepping-out steps, exhausted loops)``."""
    dtype = z.dtype
    d = z.shape[0]
    level_key, direction_key, radius_key = jax.random.split(key, 3)

    def finite(v):
        return jnp.where(jnp.isfinite(v), v, -jnp.inf)

    r = jnp.linalg.norm(z)
    theta = z / r
    # log T - (d - 1) log r: the level in terms of log p, for points at the current radius.
    drop = jax.random.exponential(level_key, (), dtype)
    level = (d - 1) * jnp.log(r) + lp - drop

    # -- direction: geodesic shrinkage on a random great circle through theta -------------
    normal_key, bracket_key, loop_key = jax.random.split(direction_key, 3)
    y = jax.random.normal(normal_key, (d,), dtype)
    y = y - jnp.dot(theta, y) * theta
    y = y / jnp.maximum(jnp.linalg.norm(y), jnp.finfo(dtype).tiny)
    # The paper's direction update: on the whole circle the first proposal is a uniform angle
    # ``w`` and the bracket is ``[w - 2 pi, w]``; a shorter bracket is placed at random around
    # 0 and its first proposal drawn uniformly inside it (the paper's form is valid only for
    # the whole circle, where the bracket's two ends are one point).
    first_key, bracket_key = jax.random.split(bracket_key)
    high = angle * jax.random.uniform(bracket_key, (), dtype)
    low = high - angle
    whole = angle >= TWO_PI * (1 - 1e-9)
    first = jnp.where(whole, high, _uniform(first_key, low, high))

    def direction_body(carry):
        k, lo, hi, w, _, best, best_lp, n = carry
        candidate = theta * jnp.cos(w) + y * jnp.sin(w)
        value = finite(log_density(r * candidate))
        inside = (d - 1) * jnp.log(r) + value > level
        lo = jnp.where(inside | (w >= 0), lo, w)
        hi = jnp.where(inside | (w < 0), hi, w)
        k, sub = jax.random.split(k)
        return (k, lo, hi, _uniform(sub, lo, hi), inside, jnp.where(inside, candidate, best),
                jnp.where(inside, value, best_lp), n + 1)

    def direction_cond(carry):
        return ~carry[4] & (carry[7] < max_steps)

    _, _, _, _, found, theta_new, lp_new, n_direction = jax.lax.while_loop(
        direction_cond, direction_body,
        (loop_key, low, high, first, jnp.asarray(False), theta, lp,
         jnp.asarray(0, jnp.int32)))
    exhausted = (~found).astype(jnp.int32)

    # -- radius: stepping out and shrinkage on {r > 0 : p1(r theta_new) > T} --------------
    def log_p1(radius):
        value = finite(log_density(radius * theta_new))
        safe = jnp.where(radius > 0, radius, 1.0)
        return jnp.where(radius > 0, (d - 1) * jnp.log(safe) + value, -jnp.inf), value

    place_key, shrink_key = jax.random.split(radius_key)
    place = jax.random.uniform(place_key, (), dtype)

    def step_out(start, sign):
        """The paper's stepping out, unlimited but for the safety bound ``max_steps`` on each
        side (reaching it is counted with the exhausted loops): the end, its evaluations and
        whether the bound stopped it inside the slice."""
        def body(carry):
            edge, left, _, n = carry
            edge = edge + sign * window
            return edge, left - 1, (edge > 0) & (log_p1(edge)[0] > level), n + (edge > 0)

        def cond(carry):
            return carry[2] & (carry[1] > 0)

        inside0 = (start > 0) & (log_p1(start)[0] > level)
        edge, _, inside, n = jax.lax.while_loop(
            cond, body, (start, max_steps, inside0, jnp.asarray(0, jnp.int32)))
        return edge, n + (start > 0), inside

    lower, n_lower, capped_lower = step_out(jnp.maximum(r - place * window, 0.0), -1.0)
    upper, n_upper, capped_upper = step_out(r + (1 - place) * window, 1.0)
    lower = jnp.maximum(lower, 0.0)
    exhausted = exhausted + capped_lower.astype(jnp.int32) + capped_upper.astype(jnp.int32)
    # the stepping-out steps beyond the two first evaluations of the window's ends
    steps_out = n_lower + n_upper - (r - place * window > 0) - 1

    def shrink_body(carry):
        k, lo, hi, _, best, best_lp, n = carry
        k, sub = jax.random.split(k)
        radius = _uniform(sub, lo, hi)
        value_p1, value = log_p1(radius)
        inside = value_p1 > level
        lo = jnp.where(inside | (radius >= r), lo, radius)
        hi = jnp.where(inside | (radius < r), hi, radius)
        return (k, lo, hi, inside, jnp.where(inside, radius, best),
                jnp.where(inside, value, best_lp), n + 1)

    def shrink_cond(carry):
        return ~carry[3] & (carry[6] < max_steps)

    _, _, _, found_r, r_new, lp_radius, n_shrink = jax.lax.while_loop(
        shrink_cond, shrink_body,
        (shrink_key, lower, upper, jnp.asarray(False), r, lp_new, jnp.asarray(0, jnp.int32)))
    exhausted = exhausted + (~found_r).astype(jnp.int32)
    evaluations = n_direction + n_lower + n_upper + n_shrink
    return (r_new * theta_new, lp_radius,
            (evaluations, n_direction, jnp.maximum(steps_out, 0), exhausted))


def _gain(k):
    return (k + 1.0) ** -ADAPTATION_DECAY


class Tuning(NamedTuple):
    """What the run adapts and its loop bound, arguments of the compiled program (so that
    every option value shares one program): scalars ``adapt_angle``, ``adapt_window`` (bool)
    and ``max_steps`` (int)."""

    adapt_angle: jax.Array
    adapt_window: jax.Array
    max_steps: jax.Array


def build_advance(log_density_with, chunk: int):
    """The compiled program ``advance(chains, frame, tuning, key, active, adapting, start,
    data)``: ``chunk`` GPSS iterations of every chain (vectorised with ``vmap``), of which the
    first ``active`` are run and the rest leave the state as it is; with ``adapting`` the
    angle and window adapt as ``tuning`` says, with gain index ``start + i`` at iteration
    ``i``. Returns the final chains and per-iteration records (chain first)."""

    def one_chain(key, z, lp, log_angle, log_window, frame, tuning, data, adapting, k):
        def target(x):
            return log_density_with(frame.to_u(x), data)

        z, lp, (evals, n_direction, steps_out, exhausted) = gpss_transition(
            target, key, z, lp, jnp.exp(log_angle), jnp.exp(log_window), tuning.max_steps)
        gain = jnp.where(adapting, _gain(k), 0.0)
        push = jnp.clip(TARGET_DIRECTION_PROPOSALS - n_direction, -3.0, 1.0)
        log_angle = jnp.where(tuning.adapt_angle,
                              jnp.minimum(log_angle + gain * push, math.log(TWO_PI)), log_angle)
        push = jnp.clip(steps_out - TARGET_STEPS_OUT, -1.0, 3.0)
        log_window = jnp.where(tuning.adapt_window, log_window + gain * push, log_window)
        return (z, lp, log_angle, log_window), (evals, n_direction, exhausted)

    vmapped = jax.vmap(one_chain, in_axes=(0, 0, 0, 0, 0, None, None, None, None, None))

    def advance(chains: Chains, frame: Frame, tuning: Tuning, key, active, adapting, start,
                data):
        def body(state, i):
            key_i = jax.random.fold_in(key, i)

            def move(state):
                keys = jax.random.split(key_i, state.z.shape[0])
                (z, lp, la, lw), (evals, n_dir, exhausted) = vmapped(
                    keys, state.z, state.lp, state.log_angle, state.log_window, frame, tuning,
                    data, adapting, (start + i).astype(state.z.dtype))
                return Chains(z, lp, la, lw), (evals, n_dir, exhausted)

            def stay(state):
                zeros = jnp.zeros(state.lp.shape, jnp.int32)
                return state, (zeros, zeros, zeros)

            state, stats = jax.lax.cond(i < active, move, stay, state)
            record = {"z": state.z, "lp": state.lp, "n_evals": stats[0],
                      "direction_proposals": stats[1], "exhausted": stats[2]}
            return state, record

        chains, records = jax.lax.scan(body, chains, jnp.arange(chunk))
        return chains, {k: jnp.swapaxes(v, 0, 1) for k, v in records.items()}

    return jax.jit(advance)


def dense_frame(option: Any, dimension: int) -> bool:
    """Whether ``dense=option`` standardises with a dense factor at this dimension."""
    if option == "auto" or option is None:
        return dimension <= DENSE_MAX_DIMENSION
    return bool(option)


def _windows(warmup: int) -> list[int]:
    """The warm-up windows' lengths (summing to ``warmup``)."""
    ends = np.round(np.cumsum(WARMUP_WINDOWS) * warmup).astype(int)
    lengths = np.diff(np.concatenate([[0], ends]))
    return [int(n) for n in lengths if n > 0]


def _reframe(chains: Chains, old: Frame, new: Frame) -> Chains:
    """The chains in the coordinates of ``new``: the same points ``u``."""
    return chains._replace(z=new.to_z(old.to_u(chains.z)))


def _estimate_frame(draws: np.ndarray, dense: bool, dtype) -> Frame:
    """The location and scale of ``draws`` (chains, draws, dimension) in the sampled
    coordinates ``u``: the mean over chains and draws, and the Cholesky factor of their
    covariance (``dense``; shrunk towards its diagonal as Stan regularises its metric, by
    ``5 / (n + 5)`` for ``n`` draws) or their standard deviations."""
    flat = draws.reshape(-1, draws.shape[-1])
    location = flat.mean(axis=0)
    scale = flat.std(axis=0)
    floor = MIN_SCALE * np.maximum(1.0, np.abs(location))
    scale = np.where(np.isfinite(scale) & (scale > floor), scale, np.maximum(floor, 1.0))
    factor = scale
    if dense:
        n = flat.shape[0]
        covariance = np.atleast_2d(np.cov(flat, rowvar=False))
        shrunk = (n * covariance + 5 * np.diag(scale**2)) / (n + 5)
        try:
            factor = np.linalg.cholesky(shrunk)
        except np.linalg.LinAlgError:  # not positive definite: the diagonal will do
            factor = np.diag(scale)
        if not np.all(np.isfinite(factor)):
            factor = np.diag(scale)
    return Frame(jnp.asarray(location, dtype), jnp.asarray(factor, dtype))


def _log_density_with(model: CompiledModel, padded: bool):
    """The target of the sampler, ``(u, data) -> log p(u)``; with ``padded`` the last
    coordinate is an auxiliary standard normal (see the module docstring)."""
    if not padded:
        return model.log_density_with

    def target(u, data):
        return model.log_density_with(u[:-1], data) - 0.5 * u[-1] ** 2

    return target


def run_gpss(model: CompiledModel, settings: RunSettings, *, angle: Any = TWO_PI,
             radius_window: float | None = None, standardise: bool = True,
             dense: Any = "auto", max_steps: int = 100, init: str = "auto") -> BackendResult:
    """Warm up and sample ``settings.chains`` GPSS chains; the options are those of
    :data:`OPTIONS`, already checked. Returns the kept draws on the unconstrained space with
    the statistics ``lp``, ``n_evals`` (log-density evaluations of the draw) and
    ``direction_proposals``."""
    chains_n, dtype = settings.chains, np.dtype(model.dtype)
    init_key, run_key = jax.random.split(jax.random.PRNGKey(settings.seed))
    points, notes = starting_points(model, init_key, chains_n, init)
    points = np.asarray(points, dtype).reshape(chains_n, -1)
    padded = model.dimension == 1
    if padded:  # the auxiliary coordinate starts at a standard normal draw
        extra = jax.random.normal(jax.random.fold_in(init_key, 1), (chains_n, 1), dtype)
        points = np.concatenate([points, np.asarray(extra)], axis=1)
    log_density_with = _log_density_with(model, padded)
    data = model.traced_data
    chunk = max(1, min(CHUNK, max(settings.warmup, settings.draws)))
    adapt_angle, adapt_window = angle == "adapt", radius_window is None
    advance = model.program(("gpss", padded, chunk),
                            lambda: build_advance(log_density_with, chunk))
    tuning = Tuning(jnp.asarray(adapt_angle), jnp.asarray(adapt_window),
                    jnp.asarray(int(max_steps), jnp.int32))
    densities = model.program(("gpss_densities", padded), lambda: jax.jit(
        jax.vmap(log_density_with, in_axes=(0, None))))
    lp0 = densities(jnp.asarray(points), data)
    dense = standardise and dense_frame(dense, points.shape[1])
    identity = Frame(jnp.zeros(points.shape[1], dtype),
                     jnp.eye(points.shape[1], dtype=dtype) if dense
                     else jnp.ones(points.shape[1], dtype))
    frame = identity._replace(location=jnp.asarray(
        np.median(points, axis=0) if standardise else np.zeros(points.shape[1]), dtype))
    start_angle = TWO_PI if adapt_angle else float(angle)
    start_window = 1.0 if radius_window is None else float(radius_window)
    chains = _reframe(Chains(jnp.asarray(points), lp0,
                             jnp.full(chains_n, math.log(start_angle), dtype),
                             jnp.full(chains_n, math.log(start_window), dtype)),
                      identity, frame)
    calls = 0

    def run(chains, frame, n, adapting, start):
        """``n`` iterations in chunks; the records concatenated (chain first)."""
        nonlocal calls
        parts: dict[str, list] = {}
        done = 0
        while done < n:
            active = min(chunk, n - done)
            chains, records = advance(chains, frame, tuning, jax.random.fold_in(run_key, calls),
                                      active, adapting, start + done, data)
            calls += 1
            for k, v in records.items():
                parts.setdefault(k, []).append(np.asarray(v)[:, :active])
            done += active
        return chains, {k: np.concatenate(v, axis=1) for k, v in parts.items()}

    exhausted = 0
    windows = _windows(settings.warmup)
    seen: list[np.ndarray] = []  # the warm-up draws the frame is estimated from
    for index, length in enumerate(windows):
        chains, records = run(chains, frame, length, True, 0)
        exhausted += int(records["exhausted"].sum())
        if standardise and index < len(windows) - 1:
            # The second half of the warm-up so far: the first half holds the way from the
            # starting points, and the estimate sharpens as the warm-up goes on.
            seen.append(np.asarray(frame.to_u(jnp.asarray(records["z"]))))
            so_far = np.concatenate(seen, axis=1)
            new = _estimate_frame(so_far[:, so_far.shape[1] // 2:], dense, dtype)
            chains, frame = _reframe(chains, frame, new), new
    # One kernel for the kept draws: the chains' median angle and window.
    chains = chains._replace(
        log_angle=jnp.full(chains_n, jnp.median(chains.log_angle), dtype),
        log_window=jnp.full(chains_n, jnp.median(chains.log_window), dtype))
    chains, records = run(chains, frame, settings.draws, False, 0)
    u = np.asarray(frame.to_u(jnp.asarray(records["z"])))
    positions = u[..., :-1] if padded else u
    # The auxiliary coordinate's term is not the model's: lp is the model's log density.
    lp = records["lp"] + 0.5 * u[..., -1] ** 2 if padded else records["lp"]
    kept_exhausted = int(records["exhausted"].sum())
    if kept_exhausted or exhausted:
        notes.append(
            f"gpss: {kept_exhausted} loops in the kept draws ({exhausted} in warm-up) reached "
            f"max_steps={max_steps} evaluations (a shrinkage loop without finding a point in "
            "the slice, which kept the current value, or a stepping out still inside it): the "
            "log density is probably not finite or discontinuous near the chains, or the "
            "radius window far too small; raise max_steps or check the model")
    stats = {"lp": lp, "n_evals": records["n_evals"],
             "direction_proposals": records["direction_proposals"]}
    attrs: dict[str, Any] = {
        "angle": float(np.exp(np.asarray(chains.log_angle)[0])),
        "radius_window": float(np.exp(np.asarray(chains.log_window)[0])),
        "angle_adapted": int(adapt_angle), "radius_window_adapted": int(adapt_window),
        "standardise": int(standardise), "max_steps": int(max_steps), "init": init,
        "exhausted_loops": kept_exhausted, "warmup_exhausted_loops": exhausted,
        "location": np.asarray(frame.location)[: model.dimension].tolist(),
        "scale": frame.scales()[: model.dimension].tolist(), "dense": int(dense),
    }
    return BackendResult(positions, stats, attrs=attrs, notes=tuple(notes))


@in_ppl_settings  # its public methods run in 64-bit (see ppl.jax_settings)
class GPSS:
    """The ``gpss`` backend: Gibbsian polar slice sampling, gradient-free, chains vectorised."""

    name = "gpss"
    description = ("Gibbsian polar slice sampling (Schär, Habeck & Rudolf 2023): gradient-free "
                   "slice sampling in polar coordinates, robust to heavy tails, chains "
                   "vectorised, with an adapted radius window; "
                   + describe_options(OPTIONS))
    options = OPTIONS

    def run(self, model: CompiledModel, settings: RunSettings, **options: Any) -> BackendResult:
        """Run :func:`run_gpss` with ``options``, checked against :data:`OPTIONS`."""
        return run_gpss(model, settings, **validate_options(self.name, options, OPTIONS))


__all__ = ["GPSS", "OPTIONS", "Tuning", "build_advance", "gpss_transition", "run_gpss"]
