"""Truncation: a univariate continuous distribution restricted to declared bounds, normalised.

Which declared bounds truncate a distribution (:func:`truncating_bounds`) and the truncated
distribution itself (:class:`Truncated`, made by :func:`truncate`).

``theta: real > 0 ~ normal(mu, 1)`` means the normal restricted to theta > 0 *and divided by
its mass there*, ``1 - Phi(-mu)``, so that the density is that of the distribution whose prior
draws are truncated (without the normaliser, a location that is a parameter makes the
posterior that of another model). The same holds for bounded data with a distribution.

NumPyro's ``TruncatedDistribution`` covers only the Cauchy, Laplace, Logistic, Normal,
SoftLaplace and Student-t families, and its sampling inverts the CDF, which NumPyro lacks for
the gamma, beta and Student-t families unless TensorFlow Probability is installed. This class
takes any base with a CDF (the registry's half-Student-t has its own), computes the log mass in
the tail where it is small (``log_ndtr`` for the normal), and draws by bisection on the CDF
where there is no inverse.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro.distributions as nd
from jax.scipy.special import log_ndtr
from numpyro.distributions import constraints

from ppl.frontend import ast
from ppl.frontend.lint import constant, prior_region
from ppl.ir.graph import Node
from ppl.library.distributions import DISTRIBUTIONS

# Bisection steps of the CDF inversion: 2^-90 of the bracket is below float64's resolution.
BISECTION_STEPS = 90
# Doublings of a bracket with an infinite end (1 to 2^1030 covers every float64).
BRACKET_DOUBLINGS = 1030


def log_cdf(dist, x):
    """log P(X <= x), accurate in the lower tail."""
    if isinstance(dist, nd.Normal):
        return log_ndtr((x - dist.loc) / dist.scale)
    return jnp.log(dist.cdf(x))


def log_ccdf(dist, x):
    """log P(X > x), accurate in the upper tail."""
    if isinstance(dist, nd.Normal):
        return log_ndtr((dist.loc - x) / dist.scale)
    return jnp.log1p(-dist.cdf(x))


def _log_diff_exp(a, b):
    """log(exp(a) - exp(b)) for a >= b."""
    return a + jnp.log1p(-jnp.exp(b - a))


def log_mass(dist, low, high):
    """log P(low < X < high); ``None`` for an open end. Two-sided, the difference is taken
    in the tail that holds the bounds (lower tail: CDFs; upper tail: survival functions)."""
    if low is None:
        return log_cdf(dist, high)
    if high is None:
        return log_ccdf(dist, low)
    lower_tail = _log_diff_exp(log_cdf(dist, high), log_cdf(dist, low))
    upper_tail = _log_diff_exp(log_ccdf(dist, low), log_ccdf(dist, high))
    return jnp.where(dist.cdf(low) < 0.5, lower_tail, upper_tail)


def _bracket_end(cdf_at, u, end, other, sign):
    """``end`` if finite, else a finite point beyond the quantile ``u`` in direction ``sign``:
    steps of doubling length from ``other`` (or 0) until the CDF passes ``u``."""
    open_end = ~jnp.isfinite(end)

    def short(edge):  # the quantile still lies beyond this edge
        return open_end & ((cdf_at(edge) > u) if sign < 0 else (cdf_at(edge) < u))

    def body(state):
        edge, width, steps = state
        return jnp.where(short(edge), edge + sign * width, edge), 2 * width, steps + 1

    start = jnp.where(jnp.isfinite(other), other, 0.0) + sign
    edge, _, _ = jax.lax.while_loop(
        lambda state: jnp.any(short(state[0])) & (state[2] < BRACKET_DOUBLINGS), body,
        (start, jnp.ones_like(start), 0))
    return jnp.where(open_end, edge, end)


def _bisect(cdf_at, u, low, high):
    """x with ``cdf_at(x) = u`` between ``low`` and ``high`` (either may be infinite),
    element-wise: for families whose inverse CDF NumPyro lacks."""
    a = _bracket_end(cdf_at, u, low, high, -1.0)
    b = _bracket_end(cdf_at, u, high, low, 1.0)

    def halve(_, bracket):
        a, b = bracket
        mid = 0.5 * (a + b)
        below = cdf_at(mid) < u
        return jnp.where(below, mid, a), jnp.where(below, b, mid)

    a, b = jax.lax.fori_loop(0, BISECTION_STEPS, halve, (a, b))
    return 0.5 * (a + b)


class Truncated(nd.Distribution):
    """``base`` restricted to ``(low, high)`` and normalised; ``low`` or ``high`` may be
    ``None`` (an open end). Its log density is ``base.log_prob(x) - log_mass(base, low,
    high)`` inside the bounds and ``-inf`` outside."""

    arg_constraints: dict = {}
    reparametrized_params: list = []

    def __init__(self, base, low=None, high=None):
        self.base, self.low, self.high = base, low, high
        shape = jnp.broadcast_shapes(base.batch_shape, jnp.shape(low) if low is not None else (),
                                     jnp.shape(high) if high is not None else ())
        super().__init__(batch_shape=shape, event_shape=())

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        if self.low is None:
            return constraints.less_than(self.high)
        if self.high is None:
            return constraints.greater_than(self.low)
        return constraints.interval(self.low, self.high)

    def log_prob(self, value):
        inside = jnp.ones(jnp.shape(value), bool)
        if self.low is not None:
            inside &= value >= self.low
        if self.high is not None:
            inside &= value <= self.high
        density = self.base.log_prob(value) - log_mass(self.base, self.low, self.high)
        return jnp.where(inside, density, -jnp.inf)

    def sample(self, key, sample_shape=()):
        shape = tuple(sample_shape) + tuple(self.batch_shape)
        low = jnp.broadcast_to(-jnp.inf if self.low is None else self.low, shape)
        high = jnp.broadcast_to(jnp.inf if self.high is None else self.high, shape)
        base = self.base.expand(shape) if tuple(self.base.batch_shape) != shape else self.base
        f_low = 0.0 if self.low is None else base.cdf(low)
        f_high = 1.0 if self.high is None else base.cdf(high)
        u = jax.random.uniform(key, shape, minval=f_low, maxval=f_high)
        try:
            x = base.icdf(u)
        except (NotImplementedError, ImportError, AttributeError):
            x = _bisect(base.cdf, u, low, high)
        return jnp.clip(x, low, high)


def truncate(base, low, high):
    """``base`` truncated to ``(low, high)`` (``None`` for an open end), or ``base`` itself
    when both ends are open."""
    if low is None and high is None:
        return base
    return Truncated(base, low, high)


def truncating_bounds(node: Node, symbols) -> tuple[ast.Expr | None, ast.Expr | None]:
    """The declared bounds (lower, upper) that truncate ``node``'s univariate continuous
    distribution (``None`` for a side without one): those not provably at or beyond the
    support's end (by the lints' constant folding and supports). Bounds on discrete or
    multivariate quantities, and improper priors, are the support itself (docs/language.md)."""
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
