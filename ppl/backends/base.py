"""The backend interface, and the starting points backends draw from.

A backend receives a :class:`CompiledModel` (a log-density over a flat unconstrained vector,
its transforms and an initialiser) and returns draws on the *unconstrained* space plus its own
diagnostics; :mod:`ppl.results` turns them into an ArviZ DataTree the same way for every backend.
Which backends exist, by name, is :mod:`ppl.backends.registry`'s business: this module imports
no backend, so every backend can import it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import jax
import numpy as np

from ppl.backends import keys
from ppl.codegen.index_check import statement_expressions
from ppl.codegen.model import CompiledModel
from ppl.errors import SamplingError, error
from ppl.frontend import ast


@dataclass(frozen=True)
class BackendResult:
    """``positions``: (chains, draws, dimension) unconstrained draws.
    ``sample_stats``: name -> (chains, draws) arrays. ``extra_groups``: further DataTree groups
    (e.g. an ELBO trace), name -> {variable: array}. ``attrs``: settings worth recording.
    ``notes``: what the user must be told about the run (issued as warnings, recorded).
    ``state``: what the backend needs to continue the run later (``Model.resume``), name ->
    array with the chain first."""

    positions: np.ndarray
    sample_stats: Mapping[str, np.ndarray] = field(default_factory=dict)
    extra_groups: Mapping[str, Mapping[str, np.ndarray]] = field(default_factory=dict)
    attrs: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    state: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSettings:
    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    seed: int = 0
    progress: bool = False


class Backend(Protocol):
    """What a backend provides: a name, a one-line description and ``run``; the built-in
    backends also list their ``options`` (see :mod:`ppl.backends.options`), so that a misspelt
    option is a usage error before anything is compiled."""

    name: str
    description: str

    def run(self, model: CompiledModel, settings: RunSettings, **options: Any) -> BackendResult:
        ...


def usable_start(model: CompiledModel, point) -> bool:
    """A gradient-based sampler can start at ``point`` when the log-density *and* its gradient
    are finite there (at a NaN gradient the step-size search shrinks the step to nothing and
    the chain never moves)."""
    value, gradient = model.jitted_value_and_grad(point)
    return bool(np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(gradient))))


def potential_values(model: CompiledModel, points) -> tuple[np.ndarray, np.ndarray]:
    """The potential energy (the negated log density) and its gradient at each row of
    ``points``, by the model's value-and-gradient program."""
    pairs = [model.jitted_value_and_grad(point) for point in np.asarray(points)]
    return (-np.array([float(value) for value, _ in pairs]),
            -np.stack([np.asarray(gradient) for _, gradient in pairs]))


def finite_initial_points(model: CompiledModel, key, chains: int, tries: int = 100) -> jax.Array:
    """Uniform(-2, 2) starting points with a finite log-density and gradient, one per chain.

    When no point is found, the error names the statements whose term or gradient is not
    finite.
    """
    # Candidates come from NumPy (seeded by the key) and are scored with the model's jitted
    # log-density and gradient.
    points = []
    for candidates in _uniform_candidates(model, key, chains, tries):
        points += [c for c in candidates if usable_start(model, c)]
        if len(points) >= chains:
            return jax.numpy.asarray(np.stack(points[:chains]))
    raise bad_start_error(model, candidates[0])


def _uniform_candidates(model: CompiledModel, key, chains: int, tries: int) -> Iterator:
    """``tries`` batches of ``chains`` uniform(-2, 2) points, from NumPy seeded by ``key``."""
    rng = np.random.default_rng(keys.words(key))
    dtype = np.dtype(model.dtype)
    for _ in range(tries):
        yield rng.uniform(-2.0, 2.0, (chains, model.dimension)).astype(dtype)


def unchecked_initial_points(model: CompiledModel, key, chains: int) -> np.ndarray:
    """The first candidates :func:`finite_initial_points` tries, not evaluated: a sampler whose
    first program evaluates the log density and gradient at its starting points checks them
    there (no compilation of its own) and takes :func:`finite_initial_points` only when one
    is not finite, which then gives these same points wherever they are usable."""
    return next(_uniform_candidates(model, key, chains, 1))


def uniform_start(model: CompiledModel, init: str) -> bool:
    """Whether ``init`` starts the chains at :func:`finite_initial_points`."""
    return init == "uniform" or (init == "auto" and not climbs_worthwhile(model))


def prior_centred_points(model: CompiledModel, key, chains: int, draws: int = 100,
                         jitter: float = 1.0) -> jax.Array:
    """Starting points around the prior: the median of ``draws`` prior draws on the
    unconstrained space plus uniform(-jitter, jitter) noise per chain (PyMC's idea). Starts in
    the region the prior finds plausible, e.g. for ODE models whose dynamics are wild at
    uniform(-2, 2) starts. Needs proper priors."""
    prior_key, jitter_key = jax.random.split(key)
    samples = jax.jit(jax.vmap(model.prior_draw))(jax.random.split(prior_key, draws))
    latents = {name: samples[name] for name in model.latent_names}
    flat = jax.jit(jax.vmap(model.unconstrain))(latents)
    centre = jax.numpy.nanmedian(flat, axis=0)
    noise = jax.random.uniform(jitter_key, (chains, model.dimension), centre.dtype,
                               -jitter, jitter)
    points = centre[None, :] + noise
    if not all(usable_start(model, p) for p in points):
        return finite_initial_points(model, jitter_key, chains)
    return points


# Mode-based starting points (init="auto" and "laplace"): the least number of L-BFGS climbs,
# their step limit, and the largest dimension for which a Hessian is formed (above it: uniform
# points).
LAPLACE_MIN_STARTS = 8
LAPLACE_MAX_STEPS = 1000
LAPLACE_MAX_DIMENSION = 200
# A climb has reached a mode when its Newton decrement is below this many nats.
LAPLACE_NEWTON_DECREMENT = 0.5
# The climbs run on the host (SciPy's L-BFGS-B), each step one call of the model's
# value-and-gradient program, which the start checks and the Hessians' probes call too: a cold
# run compiles that one program. Compiled into XLA programs of their own (optax's L-BFGS in a
# while loop, with the gradient at each of its call sites, and a loop over the probes), the
# climbs took 1.2-1.9 s of tracing and compilation before the first draw, beside the sampler's
# (low_dim_gauss_mix and hmm_example, cold); on the host they run in a few tenths of a second
# on these models.


def _gradients(model: CompiledModel, points: np.ndarray) -> np.ndarray:
    """The log-density's gradient at each row of ``points``."""
    value_and_grad = model.jitted_value_and_grad
    return np.stack([np.asarray(value_and_grad(point)[1]) for point in points])


def _finite_difference_hessians(model: CompiledModel, points: np.ndarray
                                ) -> tuple[np.ndarray, np.ndarray]:
    """Hessians and gradients of the log-density at each row of ``points``, the Hessians by
    central differences of the gradient. Not ``jax.hessian``: an ODE solve is differentiable
    in reverse mode only (its ``custom_vjp`` has no forward mode), and ``jax.jacrev`` of the
    gradient fails on its adaptive ``while_loop`` too (both checked on lotka_volterra); where
    ``jax.hessian`` works (kidiq_interaction) it agrees with these to 3e-11 relative."""
    k, d = points.shape
    dtype = np.dtype(model.dtype)
    step = np.finfo(dtype).eps ** (1 / 3) * np.maximum(1.0, np.abs(points))  # (k, d)
    shifts = np.eye(d, dtype=dtype)[None] * step[:, :, None]  # (k, d, d): row i moves u_i
    probes = np.concatenate([points[:, None] + shifts, points[:, None] - shifts], axis=1)
    grads = _gradients(model, probes.reshape(-1, d)).astype(np.float64).reshape(k, 2, d, d)
    with np.errstate(all="ignore"):  # non-finite gradients: the point is not used
        hessians = (grads[:, 0] - grads[:, 1]) / (2 * step[:, :, None])
    # The mean of the two one-sided probes is the gradient at the point, to O(step^2).
    return 0.5 * (hessians + np.swapaxes(hessians, 1, 2)), grads.mean(axis=(1, 2))


def _modes(model: CompiledModel, ends: np.ndarray, lp: np.ndarray) -> list[tuple]:
    """``(index, point, log mass, Cholesky factor of -H)`` for each L-BFGS end point that is a
    mode: ``H`` negative definite and the Newton decrement ``g' (-H)^-1 g / 2`` (the
    log-density still to gain under the local quadratic model) below
    ``LAPLACE_NEWTON_DECREMENT``. The log mass is the Laplace estimate
    ``log p(m) - log det(-H) / 2``."""
    usable = np.flatnonzero(np.isfinite(lp) & np.all(np.isfinite(ends), axis=1))
    if usable.size == 0:
        return []
    hessians, grads = _finite_difference_hessians(model, ends[usable].astype(model.dtype))
    modes = []
    for i, hessian, grad in zip(usable, hessians, grads, strict=True):
        if not (np.all(np.isfinite(hessian)) and np.all(np.isfinite(grad))):
            continue
        try:
            chol = np.linalg.cholesky(-hessian)
        except np.linalg.LinAlgError:
            continue  # not a maximum: a saddle, a flat direction or still climbing
        with np.errstate(all="ignore"):
            newton = np.linalg.solve(chol, grad)
            decrement = 0.5 * newton @ newton
        if decrement < LAPLACE_NEWTON_DECREMENT:  # False too when it is not finite
            modes.append((i, ends[i], lp[i] - np.sum(np.log(np.diag(chol))), chol))
    return modes


def laplace_points(model: CompiledModel, key, chains: int, starts: int | None = None,
                   keep_uniform: bool = False) -> jax.Array:
    """Starting points from the Laplace approximation at the modes of the log-density.

    L-BFGS climbs from ``starts`` uniform(-2, 2) points (default ``max(8, 2 * chains)``; the
    first ``chains`` of them are the points of ``init="uniform"`` with the same key). An end
    point is a mode when the Hessian ``H`` there (central differences of the gradient) is
    negative definite and the Newton decrement is below half a nat; it gets the Laplace
    estimate of its probability mass, ``log p(m) - log det(-H) / 2``. Each chain picks a mode
    with probability proportional to that mass and starts at a draw of ``N(m, (-H)^-1)`` (at
    ``m`` itself if the draw's log-density is not finite). So no chain starts in, or has to
    find its way out of, a minor mode or a region where the log-density is rough (e.g. an ODE
    solved far from the data, where a population falls far below the solver's absolute
    tolerance and the adaptive step choices make the log-density jump by several nats).

    With ``keep_uniform`` (``init="auto"``) the uniform points are kept when every climb
    reached the same mode (each end point within one standard deviation of the most probable
    one, in the metric of its ``-H``): without a sign of other modes or of rough regions,
    Stan's overdispersed starts are left as they are. Without any mode (e.g. a hierarchical
    scale running into a funnel) or above ``LAPLACE_MAX_DIMENSION`` dimensions the uniform
    points are used too.
    """
    return laplace_start(model, key, chains, starts, keep_uniform)[0]


def laplace_start(model: CompiledModel, key, chains: int, starts: int | None = None,
                  keep_uniform: bool = False) -> tuple[jax.Array, list[str]]:
    """:func:`laplace_points` and what the user must hear about them: a note when the climbs
    found separated modes that each hold a share of the mass (see
    :func:`separated_modes_note`)."""
    starts = max(LAPLACE_MIN_STARTS, 2 * chains) if starts is None else max(starts, chains)
    uniform = finite_initial_points(model, key, chains)
    if model.dimension > LAPLACE_MAX_DIMENSION:
        return uniform, []
    extra = finite_initial_points(model, keys.fold_in(key, 1), starts - chains) \
        if starts > chains else uniform[:0]
    ends, values = _climbs(model, np.concatenate([uniform, extra]))
    modes = _modes(model, ends, -values)
    if not modes:
        return uniform, []
    log_mass = np.array([m[2] for m in modes])
    if keep_uniform and len(modes) == starts:
        _, best, _, chol = modes[int(np.argmax(log_mass))]
        if all(np.linalg.norm(chol.T @ (m[1] - best)) < 1 for m in modes):
            return uniform, []
    rng = np.random.default_rng(keys.fold_in(key, 2))
    weights = np.exp(log_mass - np.max(log_mass))
    picks = rng.choice(len(modes), size=chains, p=weights / weights.sum())
    noise = rng.standard_normal((chains, model.dimension))
    # A draw of N(m, (L L')^-1) is m + L'^-1 z.
    centres = np.stack([modes[k][1] for k in picks])
    draws = np.stack([modes[k][1] + np.linalg.solve(modes[k][3].T, z)
                      for k, z in zip(picks, noise, strict=True)])
    dtype = np.dtype(model.dtype)
    finite = np.array([usable_start(model, x.astype(dtype)) for x in draws])
    points = jax.numpy.asarray(np.where(finite[:, None], draws, centres).astype(dtype))
    groups = distinct_modes(modes)
    home = {id(m): g for g, group in enumerate(groups) for m in group}
    started = [home[id(modes[k])] for k in picks]
    note = separated_modes_note(groups, started, starts,
                                lambda g: _where(model, groups[g][0][1]))
    return points, [note] if note else []


def _climbs(model: CompiledModel, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L-BFGS climbs of the log density from each row of ``starts`` (at most
    ``LAPLACE_MAX_STEPS`` steps, to a gradient below 1e-8 or a relative change of ten machine
    epsilons): the end points and the negated log density there."""
    from scipy.optimize import minimize  # imported here: `import ppl` does not need it

    value_and_grad = model.jitted_value_and_grad
    dtype = np.dtype(model.dtype)

    def negated(u: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = value_and_grad(np.asarray(u, dtype))
        gradient = np.asarray(gradient, np.float64)
        if not (np.isfinite(value) and np.all(np.isfinite(gradient))):
            return np.inf, np.zeros_like(gradient)  # the line search steps back from here
        return -float(value), -gradient

    ends, values = [], []
    for start in np.asarray(starts, np.float64):
        with np.errstate(all="ignore"):
            found = minimize(negated, start, jac=True, method="L-BFGS-B", options={
                "maxiter": LAPLACE_MAX_STEPS, "gtol": 1e-8, "ftol": 10 * np.finfo(dtype).eps})
        ends.append(found.x)
        values.append(found.fun)
    return np.stack(ends), np.asarray(values, np.float64)


# Climbs that end this many standard deviations apart (in the metric of the better end's -H)
# reached different modes; a mode is reported when it holds at least MODE_MIN_SHARE of the
# modes' estimated mass (a minor mode that no chain should visit is not worth a warning).
MODE_SEPARATION = 1.0
MODE_MIN_SHARE = 0.01
MODES_NAMED = 3


def distinct_modes(modes: list[tuple]) -> list[list[tuple]]:
    """The ``(index, point, log mass, Cholesky factor of -H)`` modes of :func:`_modes`
    grouped into distinct modes, most probable first: a mode joins the first group whose
    best member is within ``MODE_SEPARATION`` standard deviations of it (in that member's
    metric). The first member of a group is its most probable."""
    groups: list[list[tuple]] = []
    for mode in sorted(modes, key=lambda m: -m[2]):
        for group in groups:
            best = group[0]
            if np.linalg.norm(best[3].T @ (mode[1] - best[1])) < MODE_SEPARATION:
                group.append(mode)
                break
        else:
            groups.append([mode])
    return groups


def separated_modes_note(groups: list[list[tuple]], started: list[int], climbs: int,
                         place: Callable[[int], str]) -> str | None:
    """The warning for climbs that found several separated modes each holding at least
    ``MODE_MIN_SHARE`` of the estimated mass (None otherwise): how many, where (``place(g)``
    of group ``g``, asked only for a warning) with their log density and share, which mode
    each chain (``started``: the group of each chain) starts at, and what to do."""
    log_mass = np.array([group[0][2] for group in groups])
    share = np.exp(log_mass - np.max(log_mass))
    share /= share.sum()
    major = [g for g in range(len(groups)) if share[g] >= MODE_MIN_SHARE]
    if len(major) < 2:
        return None
    described = []
    for number, g in enumerate(major[:MODES_NAMED], start=1):
        best = groups[g][0]
        log_density = best[2] + np.sum(np.log(np.diag(best[3])))
        chains = [str(c + 1) for c, home in enumerate(started) if home == g]
        at = ("no chain starts" if not chains else f"chain {chains[0]} starts" if
              len(chains) == 1 else f"chains {', '.join(chains)} start")
        described.append(f"mode {number} at {place(g)} (log density {log_density:.3g}, "
                         f"{share[g]:.0%} of the estimated mass; {at} there)")
    more = f", and {len(major) - MODES_NAMED} more" if len(major) > MODES_NAMED else ""
    return (f"the optimisation from {climbs} starting points found {len(major)} separated "
            f"modes: {'; '.join(described)}{more}. A chain rarely crosses between separated "
            "modes, so the draws may show only the modes the chains started at, in the "
            f"proportions of the {len(started)} chains rather than of the posterior: run more "
            f"chains (e.g. chains={max(4, 2 * len(started))}) to see each mode, or remove the "
            "symmetry (an ordered type for mixture locations); init='auto' and 'laplace' pick "
            "each chain's mode in proportion to the estimated mass, init='uniform' at random")


def _where(model: CompiledModel, point: np.ndarray, named: int = 2) -> str:
    """A point in brief, as the model's quantities: ``mu = 4, sigma = 0.5``."""
    values = model.constrain(jax.numpy.asarray(point, model.dtype))
    parts = [f"{name} = {_short(value) if np.size(value) > 1 else f'{float(value):.3g}'}"
             for name, value in list(values.items())[:named]]
    return ", ".join(parts) + (", ..." if len(values) > named else "")




def initial_points(model: CompiledModel, key, chains: int, init: str = "uniform"
                   ) -> jax.Array:
    """Starting points by strategy: ``"laplace"`` (draws of the Laplace approximation at the
    modes found from several uniform starts, see :func:`laplace_points`), ``"auto"`` (the
    NUTS and HMC backends' default: the ``"uniform"`` points when the climbs from them all
    reach one mode, else ``"laplace"``), ``"uniform"`` (uniform(-2, 2) on the unconstrained
    space, as Stan) or ``"prior"`` (around the prior median, see
    :func:`prior_centred_points`)."""
    return starting_points(model, key, chains, init)[0]


# What makes the climbs of init="auto" worth their cost: a log density that sums over
# alternatives (a mixture, an HMM's forward sums, a discrete latent summed out), which can have
# separated modes; a numerical solve, whose log density can be rough far from the data; a
# periodic family, whose location has a mode in every period.
ALTERNATIVES_AND_SOLVES = frozenset({"log_mix", "log_sum_exp", "ode_solve", "ode_solve_stiff"})
PERIODIC_FAMILIES = frozenset({"von_mises"})


def climbs_worthwhile(model: CompiledModel) -> bool:
    """Whether ``init="auto"`` climbs from several starts before sampling: only where the
    model has a term that can give separated modes or rough regions (see
    :data:`ALTERNATIVES_AND_SOLVES`). Elsewhere the climbs end at one mode and leave the
    uniform points as they are (issue 16 found they changed no starting point in 27 runs of
    its nine anchor posteriors), so they are skipped: a start as cheap as Stan's."""
    graph = model.graph
    if graph.of_kind("discrete"):
        return True
    # The statements' expressions, plus what they leave out: user functions' bodies, the
    # pieces of statements given in pieces and the members of joint recursions.
    expressions = [*statement_expressions(graph), *(f.body for f in graph.functions)]
    for symbol in (node.symbol for node in graph.nodes if node.symbol is not None):
        expressions += [piece.dist for piece in (symbol.sample.pieces if symbol.sample else ())]
        expressions += [d.expr for d in (*symbol.joint,
                                         *(symbol.define.pieces if symbol.define else ()))]
    for expression in expressions:
        for call in ast.calls(expression):
            name = call.func.removesuffix("_lpdf").removesuffix("_lupdf")
            if call.func in ALTERNATIVES_AND_SOLVES or name in PERIODIC_FAMILIES:
                return True
    return False


def starting_points(model: CompiledModel, key, chains: int, init: str = "uniform"
                    ) -> tuple[jax.Array, list[str]]:
    """:func:`initial_points` and the notes the user must hear about them (separated modes
    found by the climbs of ``"auto"`` and ``"laplace"``)."""
    if uniform_start(model, init):
        return finite_initial_points(model, key, chains), []
    if init in ("auto", "laplace"):
        return laplace_start(model, key, chains, keep_uniform=init == "auto")
    if init == "prior":
        return prior_centred_points(model, key, chains), []
    raise SamplingError([error(f"unknown init '{init}'",
                               hint="use init='auto', 'laplace', 'uniform' or 'prior'")])


def bad_start_error(model: CompiledModel, point) -> SamplingError:
    import warnings

    from ppl.errors import Diagnostic

    diagnostics = []
    values = model.constrain(point)
    with warnings.catch_warnings():  # NumPyro's out-of-support warning: we explain it below
        warnings.simplefilter("ignore")
        terms = model.statement_terms(point)
    for index, (node, term) in enumerate(terms):
        term = float(term)
        stmt = node.factor or node.symbol.sample or node.symbol.define or node.symbol.data_decl
        parents = ", ".join(f"{p} = {_short(values[p])}" for p in node.parents if p in values)
        example = f" (e.g. with {parents})" if parents else ""
        if not np.isfinite(term):
            diagnostics.append(Diagnostic(
                f"the log-density of this statement is {term} at every random starting point "
                f"tried{example}", stmt.span,
                "check the arguments' supports (a scale must be positive, a probability in "
                "[0, 1]) and the data against the distribution's support"))
        elif not np.all(np.isfinite(_term_gradient(model, index, point))):
            diagnostics.append(Diagnostic(
                "the gradient of this statement's log-density is not finite at every random "
                f"starting point tried{example}, so a gradient-based sampler cannot move",
                stmt.span,
                "rewrite the expression so that it stays differentiable, e.g. sqrt(exp(x)) as "
                "exp(x / 2), log(exp(a) + exp(b)) as log_sum_exp(a, b), or keep the argument of "
                "sqrt away from 0"))
    if not diagnostics:
        diagnostics.append(Diagnostic(
            "the log-density or its gradient is not finite at any starting point tried",
            hint="check the model's constraints"))
    return SamplingError(diagnostics, model.graph.source)


def _term_gradient(model: CompiledModel, index: int, point) -> np.ndarray:
    """The gradient of the ``index``-th statement's term at ``point``."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(jax.grad(lambda u: model.statement_terms(u)[index][1])(
            jax.numpy.asarray(point)))


def _short(value) -> str:
    arr = np.asarray(value)
    if arr.size <= 3:
        return np.array2string(arr, precision=3)
    return np.array2string(arr.ravel()[:3], precision=3)[:-1] + " ...]"
