"""Function registry: the language's math library, each entry with its JAX code and shape rule.

Shape rules (checked before any tracing):
- ``elementwise``: one argument of any shape; the result has the same shape.
- ``reduce``: one argument of any shape; the result is a scalar.
- ``vector``: one vector argument; the result is a vector of the same length.
- ``dot``: two vectors of the same length; the result is a scalar.
- ``binary``: two arguments combined element-wise (equal shapes or a scalar).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    rule: str
    impl: Callable
    doc: str
    keeps_int: bool = False  # int in, int out (sum of ints, abs of an int, ...)


def _sd(x):
    return jnp.std(x, ddof=1)


def _log_mix(theta, a, b):
    """log(theta e^a + (1 - theta) e^b) with m = max(a, b) taken out. ``m`` is held fixed for
    differentiation (the expression is the same for any m), so the gradient in theta is
    (e^a - e^b) / (theta e^a + (1 - theta) e^b) even at theta = 0 or 1, where the form
    logaddexp(log(theta) + a, log1m(theta) + b) multiplies a zero weight by 1 / theta = inf and
    gives NaN. A weight outside [0, 1] gives NaN, as that form did (Stan rejects it)."""
    m = jax.lax.stop_gradient(jnp.maximum(a, b))
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    mix = m + jnp.log(theta * jnp.exp(a - m) + (1 - theta) * jnp.exp(b - m))
    return jnp.where((theta >= 0) & (theta <= 1), mix, jnp.nan)


def _distances(x):
    return jnp.abs(x[:, None] - x[None, :])


def _exp_quad(x, alpha, rho):
    return alpha**2 * jnp.exp(-0.5 * jnp.square(_distances(x) / rho))


def _matern32(x, alpha, rho):
    scaled = jnp.sqrt(3.0) * _distances(x) / rho
    return alpha**2 * (1.0 + scaled) * jnp.exp(-scaled)


def _solve_lower(lower, b):
    return jax.scipy.linalg.solve_triangular(lower, b, lower=True)


def _append_row(a, b):
    return jnp.concatenate([a, b], axis=0)


def _append_col(a, b):
    return jnp.concatenate([a, b], axis=1)


def _add_diag(m, d):
    n = m.shape[0]
    return m + jnp.diag(jnp.broadcast_to(d, (n,)))


def _variance(x):
    return jnp.var(x, ddof=1)


@jax.custom_jvp
def _real_pow(x, y):
    return jnp.power(x, y)


@_real_pow.defjvp
def _real_pow_jvp(primals, tangents):
    """d/dx = y x^(y - 1), and 0 where y = 0 (x^0 = 1 for every x; JAX's rule gives
    0 * 0^-1 = NaN at x = 0); d/dy = x^y log(x), and 0 at x = 0 (0^y = 0 for y > 0)."""
    x, y = primals
    dx, dy = tangents
    out = jnp.power(x, y)
    d_x = jnp.where(y == 0, 0.0, y * jnp.power(x, y - 1))
    d_y = jnp.where(x == 0, 0.0, out * jnp.log(jnp.where(x == 0, 1.0, x)))
    return out, d_x * dx + d_y * dy


def _pow(x, y):
    """x^y, a real as in Stan: pow(2, -1) is 0.5 (JAX raises for an integer to a negative
    integer power)."""
    dtype = jnp.result_type(x, y, 1.0)  # the real type (ints alone: the default real)
    return _real_pow(jnp.asarray(x, dtype), jnp.asarray(y, dtype))


_SPECS = [
    FunctionSpec("exp", "elementwise", jnp.exp, "e^x"),
    FunctionSpec("log", "elementwise", jnp.log, "natural logarithm"),
    FunctionSpec("log1p", "elementwise", jnp.log1p, "log(1 + x), accurate near 0"),
    FunctionSpec("expm1", "elementwise", jnp.expm1, "exp(x) - 1, accurate near 0"),
    FunctionSpec("log1m", "elementwise", lambda x: jnp.log1p(-x), "log(1 - x)"),
    FunctionSpec("sqrt", "elementwise", jnp.sqrt, "square root"),
    FunctionSpec("square", "elementwise", jnp.square, "x^2", keeps_int=True),
    FunctionSpec("abs", "elementwise", jnp.abs, "absolute value", keeps_int=True),
    FunctionSpec("inv_logit", "elementwise", jax.nn.sigmoid, "1 / (1 + exp(-x))"),
    FunctionSpec("logit", "elementwise", jsp.logit, "log(x / (1 - x))"),
    FunctionSpec("log_inv_logit", "elementwise", jax.nn.log_sigmoid, "log(inv_logit(x))"),
    FunctionSpec("log1m_inv_logit", "elementwise", lambda x: jax.nn.log_sigmoid(-x),
                 "log(1 - inv_logit(x))"),
    FunctionSpec("lgamma", "elementwise", jsp.gammaln, "log of the gamma function"),
    FunctionSpec("Phi", "elementwise", jsp.ndtr, "standard normal CDF"),
    FunctionSpec("tanh", "elementwise", jnp.tanh, "hyperbolic tangent"),
    FunctionSpec("sin", "elementwise", jnp.sin, "sine"),
    FunctionSpec("cos", "elementwise", jnp.cos, "cosine"),
    FunctionSpec("log_sum_exp", "reduce", jsp.logsumexp, "log(sum(exp(x))), computed stably"),
    FunctionSpec("sum", "reduce", jnp.sum, "sum of all elements", keeps_int=True),
    FunctionSpec("mean", "reduce", jnp.mean, "mean of all elements"),
    FunctionSpec("sd", "reduce", _sd, "sample standard deviation (denominator n - 1)"),
    FunctionSpec("variance", "reduce", _variance, "sample variance (denominator n - 1)"),
    FunctionSpec("softmax", "vector", jax.nn.softmax, "exp(x) / sum(exp(x))"),
    FunctionSpec("log_softmax", "vector", jax.nn.log_softmax, "x - log_sum_exp(x)"),
    FunctionSpec("cumulative_sum", "vector", jnp.cumsum, "running sums", keeps_int=True),
    FunctionSpec("reverse", "vector", jnp.flip, "the elements in reverse order",
                 keeps_int=True),
    FunctionSpec("dot", "dot", jnp.dot, "dot product of two vectors"),
    FunctionSpec("log_mix", "mix", _log_mix,
                 "log_mix(theta, a, b) = log(theta * exp(a) + (1 - theta) * exp(b)), stably"),
    FunctionSpec("transpose", "matrix", jnp.transpose, "the transposed matrix",
                 keeps_int=True),
    FunctionSpec("to_vector", "matrix", lambda m: jnp.ravel(m, order="F"),
                 "the matrix's elements as a vector, column by column (as in Stan)",
                 keeps_int=True),
    FunctionSpec("cholesky", "square_matrix", jnp.linalg.cholesky,
                 "lower Cholesky factor L of a positive-definite matrix (L L' = A)"),
    FunctionSpec("gp_exp_quad_cov", "gp", _exp_quad,
                 "squared-exponential covariance: alpha^2 exp(-(x_i - x_j)^2 / (2 rho^2))"),
    FunctionSpec("gp_matern32_cov", "gp", _matern32,
                 "Matern 3/2 covariance: alpha^2 (1 + sqrt(3) d / rho) exp(-sqrt(3) d / rho)"),
    FunctionSpec("add_diag", "add_diag", _add_diag,
                 "add_diag(M, d): M with d (a scalar or a vector) added to its diagonal"),
    FunctionSpec("mdivide_left_tri_low", "solve", _solve_lower,
                 "mdivide_left_tri_low(L, b): x with L x = b, for lower-triangular L"),
    FunctionSpec("append_row", "append", _append_row,
                 "append_row(a, b): b below a (vectors joined, or matrices stacked by rows)"),
    FunctionSpec("append_col", "append", _append_col,
                 "append_col(A, B): B to the right of A (matrices with the same rows)"),
    FunctionSpec("diag_matrix", "diag", jnp.diag, "the diagonal matrix with the vector on "
                 "its diagonal"),
    FunctionSpec("pow", "binary", _pow, "x raised to the power y"),
    FunctionSpec("fmin", "binary", jnp.minimum, "element-wise minimum", keeps_int=True),
    FunctionSpec("fmax", "binary", jnp.maximum, "element-wise maximum", keeps_int=True),
]

# min/max: one argument reduces, two arguments compare element-wise.
_MIN_MAX = [
    FunctionSpec("min", "reduce_or_binary", (jnp.min, jnp.minimum),
                 "min(x): smallest element; min(x, y): element-wise minimum", keeps_int=True),
    FunctionSpec("max", "reduce_or_binary", (jnp.max, jnp.maximum),
                 "max(x): largest element; max(x, y): element-wise maximum", keeps_int=True),
]

FUNCTIONS: dict[str, FunctionSpec] = {spec.name: spec for spec in _SPECS + _MIN_MAX}

ARITY = {"elementwise": (1, 1), "reduce": (1, 1), "vector": (1, 1), "dot": (2, 2),
         "binary": (2, 2), "reduce_or_binary": (1, 2), "matrix": (1, 1),
         "square_matrix": (1, 1), "diag": (1, 1), "mix": (3, 3), "gp": (3, 3),
         "add_diag": (2, 2), "solve": (2, 2), "append": (2, 2)}


def _real(x):
    """``x`` as the default real type when it holds integers (or booleans), else unchanged."""
    if jnp.issubdtype(jnp.result_type(x), jnp.floating):
        return x
    return jnp.asarray(x, jnp.result_type(x, 1.0))


def _on_reals(impl: Callable) -> Callable:
    # Functions that are real-valued in the language take int arguments too (inv_logit(n),
    # Phi(k), dot of int arrays), but several JAX implementations reject integer dtypes or
    # would return an int where the checker promised a real.
    def on_reals(*args):
        return impl(*(_real(a) for a in args))

    return on_reals


def implementation(spec: FunctionSpec, n_args: int) -> Callable:
    """The JAX function implementing ``spec`` for ``n_args`` arguments."""
    impl = spec.impl[n_args - 1] if spec.rule == "reduce_or_binary" else spec.impl
    return impl if spec.keeps_int else _on_reals(impl)
