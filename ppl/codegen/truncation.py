"""Truncation: a univariate distribution restricted to bounds, normalised.

Which bounds truncate a distribution (:func:`truncating_bounds`: ``T[L, U]`` after it, or
declared bounds narrower than its support) and the truncated distribution itself
(:class:`Truncated`, made by :func:`truncate`).

``theta: real > 0 ~ normal(mu, 1)`` (or ``theta ~ normal(mu, 1) T[0, ]``) means the normal
restricted to theta > 0 *and divided by its mass there*, ``1 - Phi(-mu)``, so that the density
is that of the distribution whose prior draws are truncated (without the normaliser, a location
that is a parameter makes the posterior that of another model). The same holds for data. A
discrete distribution truncated to ``L..U`` (both included, as Stan's) is divided by ``F(U) -
F(L - 1)``.

The masses come from the library's CDFs (:mod:`ppl.library.cdfs`), on the log scale and in the
tail that holds the bounds. NumPyro's ``TruncatedDistribution`` covers only a few continuous
families and draws by inverting a CDF that several families lack; draws here solve ``log F(x) =
log u`` (or the same for the survival function, in the upper tail) by bisection, which works
for every family with a CDF and keeps the tails.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpyro.distributions as nd
from numpyro.distributions import constraints

from ppl.codegen.evaluate import evaluate, map_over
from ppl.frontend import ast
from ppl.frontend.lint import constant, prior_region
from ppl.ir.graph import Node
from ppl.library.cdfs import LOG_HALF, log1m_exp
from ppl.library.distributions import DISTRIBUTIONS

# Bisection steps of the CDF inversion: 2^-90 of the bracket is below float64's resolution.
BISECTION_STEPS = 90
# Doublings of a bracket with an infinite end (1 to 2^1030 covers every float64).
BRACKET_DOUBLINGS = 1030

# y -> (log P(Y <= y), log P(Y > y)) of a distribution with its arguments bound.
LogCdfs = Callable[[jax.Array], tuple[jax.Array, jax.Array]]


def log_mass(cdfs: LogCdfs, low, high) -> tuple[jax.Array, jax.Array]:
    """(log P(low < Y <= high), whether that is taken in the lower tail); ``None`` for an open
    end. Two-sided, the difference is taken in the tail that holds the bounds (lower tail: CDFs;
    upper tail: survival functions), each side fed values safe for it (no NaN gradient from the
    side not taken)."""
    if low is None:
        lcdf = cdfs(high)[0]
        return lcdf, jnp.ones(jnp.shape(lcdf), bool)
    if high is None:
        lccdf = cdfs(low)[1]
        return lccdf, jnp.zeros(jnp.shape(lccdf), bool)
    lcdf_lo, lccdf_lo = cdfs(low)
    lcdf_hi, lccdf_hi = cdfs(high)
    lower = lcdf_lo < LOG_HALF
    below = jnp.where(lower, lcdf_hi, 0.0) + log1m_exp(
        jnp.where(lower, lcdf_lo - lcdf_hi, -1.0))
    above = jnp.where(lower, 0.0, lccdf_lo) + log1m_exp(
        jnp.where(lower, -1.0, lccdf_hi - lccdf_lo))
    return jnp.where(lower, below, above), lower


def _bracket_end(g, target, end, other, sign):
    """``end`` if finite, else a finite point beyond the solution of ``g(x) = target`` (``g``
    increasing) in direction ``sign``: steps of doubling length from ``other`` (or 0)."""
    open_end = ~jnp.isfinite(end)

    def short(edge):  # the solution still lies beyond this edge
        return open_end & ((g(edge) >= target) if sign < 0 else (g(edge) < target))

    def body(state):
        edge, width, steps = state
        return jnp.where(short(edge), edge + sign * width, edge), 2 * width, steps + 1

    start = jnp.where(jnp.isfinite(other), other, 0.0) + sign
    edge, _, _ = jax.lax.while_loop(
        lambda state: jnp.any(short(state[0])) & (state[2] < BRACKET_DOUBLINGS), body,
        (start, jnp.ones_like(start), 0))
    return jnp.where(open_end, edge, end)


def _solve(g, target, low, high):
    """(a, b) around the point where the increasing ``g`` reaches ``target``, ``g(a) < target
    <= g(b)``, between ``low`` and ``high`` (either may be infinite), element-wise."""
    a = _bracket_end(g, target, low, high, -1.0)
    b = _bracket_end(g, target, high, low, 1.0)

    def halve(_, bracket):
        a, b = bracket
        mid = 0.5 * (a + b)
        below = g(mid) < target
        return jnp.where(below, mid, a), jnp.where(below, b, mid)

    return jax.lax.fori_loop(0, BISECTION_STEPS, halve, (a, b))


class Truncated(nd.Distribution):
    """``base`` restricted to ``low <= Y <= high`` and normalised, ``cdfs`` its log CDFs;
    ``low`` or ``high`` may be ``None`` (an open end). Its log density is ``base.log_prob(y) -
    log_mass`` inside the bounds and ``-inf`` outside. A discrete ``base`` keeps both ends."""

    arg_constraints: dict = {}
    reparametrized_params: list = []
    pytree_aux_fields = ("cdfs", "discrete")

    def __init__(self, base, cdfs: LogCdfs, low=None, high=None, discrete: bool = False):
        self.base, self.cdfs, self.low, self.high = base, cdfs, low, high
        self.discrete = discrete
        shape = jnp.broadcast_shapes(base.batch_shape, jnp.shape(low) if low is not None else (),
                                     jnp.shape(high) if high is not None else ())
        super().__init__(batch_shape=shape, event_shape=())

    def _ends(self):
        """The ends inside the base's support (a bound beyond it changes nothing)."""
        low, high = self.low, self.high
        floor = getattr(self.base.support, "lower_bound", None)
        ceiling = getattr(self.base.support, "upper_bound", None)
        if low is not None and floor is not None:
            low = jnp.maximum(low, floor)
        if high is not None and ceiling is not None:
            high = jnp.minimum(high, ceiling)
        return low, high

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        low, high = self._ends()
        if self.discrete:
            low = self.base.support.lower_bound if low is None else low
            return (constraints.integer_greater_than(low) if high is None
                    else constraints.integer_interval(low, high))
        if low is None:
            return constraints.less_than(high)
        if high is None:
            return constraints.greater_than(low)
        return constraints.interval(low, high)

    def _mass(self):
        # P(low <= Y <= high): for integers, the CDFs from low - 1
        low = None if self.low is None else (self.low - 1 if self.discrete else self.low)
        return log_mass(self.cdfs, low, self.high)

    def log_prob(self, value):
        inside = jnp.ones(jnp.shape(value), bool)
        if self.low is not None:
            inside &= value >= self.low
        if self.high is not None:
            inside &= value <= self.high
        density = self.base.log_prob(value) - self._mass()[0]
        return jnp.where(inside, density, -jnp.inf)

    def sample(self, key, sample_shape=()):
        """u uniform over the mass, on the log scale in the tail that holds the bounds, and y
        the point where the CDF (or the survival function) reaches u."""
        shape = tuple(sample_shape) + tuple(self.batch_shape)
        low = jnp.broadcast_to(-jnp.inf if self.low is None else self.low, shape)
        high = jnp.broadcast_to(jnp.inf if self.high is None else self.high, shape)
        below = low - 1 if self.discrete else low
        mass, lower = self._mass()
        log_v = jnp.log(jax.random.uniform(key, shape, minval=1e-300))
        lcdf_lo, lccdf_lo = self.cdfs(below)
        lcdf_hi, lccdf_hi = self.cdfs(high)
        lower = jnp.broadcast_to(lower, shape)
        # lower tail: log u = log(F(low) + v mass); upper: log s = log(S(high) + v mass)
        target = jnp.where(lower, jnp.logaddexp(lcdf_lo, log_v + mass),
                           -jnp.logaddexp(lccdf_hi, log_v + mass))

        def g(x):  # increasing: log F(x) in the lower tail, -log S(x) in the upper
            lcdf, lccdf = self.cdfs(x)
            return jnp.where(lower, lcdf, -lccdf)

        start = below if self.discrete else low
        a, b = _solve(g, target, start, high)
        if self.discrete:  # the smallest integer reaching u
            return jnp.clip(jnp.floor(b), low, high).astype(jnp.result_type(int))
        return jnp.clip(0.5 * (a + b), low, high)


def truncate(base, cdfs: LogCdfs, low, high, discrete: bool = False):
    """``base`` truncated to ``low <= Y <= high`` (``None`` for an open end), or ``base``
    itself when both ends are open."""
    if low is None and high is None:
        return base
    return Truncated(base, cdfs, low, high, discrete)


def bound_value(node: Node, e: ast.Expr, env) -> jax.Array:
    """A truncation bound's value: per element for ``T[L[n], U[n]] for n in ...``."""
    c = node.sample.comprehension
    if c is not None and node.sample.truncation is not None:
        return map_over(c, env, lambda scope: jnp.asarray(evaluate(e, scope)))
    return jnp.asarray(evaluate(e, env))


def truncating_bounds(node: Node, symbols) -> tuple[ast.Expr | None, ast.Expr | None]:
    """The bounds (lower, upper) that truncate ``node``'s univariate distribution (``None`` for
    a side without one): ``T[L, U]`` after it, else the declared bounds not provably at or
    beyond the support's end (by the lints' constant folding and supports). Declared bounds on
    discrete or multivariate quantities, and improper priors, are the support itself
    (docs/language.md)."""
    if node.sample.truncation is not None:
        return node.sample.truncation.lower, node.sample.truncation.upper
    bounds = node.declared_bounds
    spec = DISTRIBUTIONS[node.sample.dist.func]
    if bounds is None or spec.discrete or spec.event_rank or not spec.proper:
        return None, None
    support = prior_region(node.sample.dist, symbols)

    def truncates(expr, redundant) -> bool:
        value = constant(expr, symbols) if expr is not None else None
        return expr is not None and not (value is not None and support is not None
                                         and redundant(value))

    return (bounds.lower if truncates(bounds.lower, lambda v: v <= support.lower) else None,
            bounds.upper if truncates(bounds.upper, lambda v: v >= support.upper) else None)
