"""Function registry: the language's math library, each entry with its JAX code and shape rule.

Shape rules (checked before any tracing):
- ``elementwise``: one argument of any shape; the result has the same shape.
- ``reduce``: one argument of any shape; the result is a scalar.
- ``vector``: one vector argument; the result is a vector of the same length.
- ``dot``: two vectors of the same length; the result is a scalar.
- ``binary``: two arguments combined element-wise (equal shapes or a scalar).
- ``vector_reduce``: one vector; the result is a scalar (``dot_self``).
- ``square_reduce``: one square matrix; the result is a scalar (``determinant``).
- ``diag_multiply``: a vector and a matrix, the vector's length the matrix's rows
  (``diag_pre_multiply(v, M)``) or columns (``diag_post_multiply(M, v)``); the matrix's shape.
- ``quad_form``: a square matrix K x K and a vector of K (a scalar) or a matrix K x N (N x N).
- ``quad_form_diag``: a square matrix K x K and a vector of K; the result is K x K.
- ``gram``: one matrix M x N; the result is M x M (``tcrossprod``) or N x N (``crossprod``).
- ``ternary``: three arguments combined element-wise (``fma``).
- ``dims``: one argument; an int from its shape (``rows``, ``cols``, ``num_elements``).
- ``kron``: two matrices m x n and p x q; the result is mp x nq (``kronecker_product``).
- ``constant``: no argument; a real number (``pi()``, ``negative_infinity()``).
- ``sized``: arguments of which some (``SIZE_ARGUMENTS``) are sizes, ints known from the data
  (``rep_vector(x, n)``); the implementation gets them as Python ints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np


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


def _round(x):
    """Stan's round (C++ std::round): halfway cases away from zero (jnp.round rounds them to
    the even neighbour)."""
    t = jnp.trunc(x)
    return jnp.where(jnp.abs(x - t) >= 0.5, t + jnp.sign(x), t)


@jax.custom_jvp
def _inv_phi(p):
    return jsp.ndtri(p)


@_inv_phi.defjvp
def _inv_phi_jvp(primals, tangents):
    """d/dp Phi^-1(p) = 1 / phi(Phi^-1(p)), exactly (jax.scipy's ndtri is a piecewise
    rational approximation whose own derivative is not accurate to full precision)."""
    (p,), (dp,) = primals, tangents
    x = jsp.ndtri(p)
    return x, dp * jnp.sqrt(2 * jnp.pi) * jnp.exp(0.5 * jnp.square(x))


def _log1m_exp(x):
    """log(1 - e^x) for x <= 0, accurate at both ends (jax.numpy has no log1mexp)."""
    return jnp.where(x > -jnp.log(2.0), jnp.log(-jnp.expm1(x)), jnp.log1p(-jnp.exp(x)))


def log_diff_exp(a, b):
    """log(e^a - e^b), as a + log(1 - e^(b - a)); -inf at a = b, NaN for a < b (as Stan)."""
    return a + _log1m_exp(b - a)


def _stirling_diff(z):
    """lgamma(z) minus Stirling's approximation (z - 1/2) log z - z + log(2 pi) / 2, by its
    asymptotic series; accurate to ~1e-16 for z >= 10 (smaller z are clamped to 10)."""
    z = jnp.where(z < 10.0, 10.0, z)  # not maximum: its gradient at z = 10 is halved
    w = 1.0 / jnp.square(z)
    return (1 / 12 + w * (-1 / 360 + w * (1 / 1260 + w * (-1 / 1680 + w / 1188)))) / z


def lbeta(a, b):
    """log B(a, b). jax.scipy.special.betaln loses digits (relative error ~1e-7 at (11, 1)), and
    lgamma(a) + lgamma(b) - lgamma(a + b) cancels when a + b is large; as in Stan, the large
    arguments go through Stirling's formula with its difference series taken out."""
    x, y = jnp.minimum(a, b), jnp.maximum(a, b)
    s = x + y
    small = jsp.gammaln(x) + jsp.gammaln(y) - jsp.gammaln(s)
    corr = _stirling_diff(y) - _stirling_diff(s)
    ratio = jnp.log1p(-x / s)  # log(y / (x + y)), with x / s <= 1/2
    one_large = jsp.gammaln(x) + corr + x - x * jnp.log(s) + (y - 0.5) * ratio
    both_large = (0.5 * jnp.log(2 * jnp.pi) - 0.5 * jnp.log(y) + corr + _stirling_diff(x)
                  + (x - 0.5) * jnp.log(x / s) + y * ratio)
    return jnp.where(y < 10, small, jnp.where(x < 10, one_large, both_large))


def lchoose(n, k):
    """log of the binomial coefficient, for real n and k: -log(n + 1) - lbeta(n - k + 1, k + 1)
    with k the smaller of k and n - k; exactly 0 at k = 0 and k = n (as Stan)."""
    k = jnp.where(k > 0.5 * n, n - k, k)
    return jnp.where(k == 0, 0.0, -jnp.log1p(n) - lbeta(n - k + 1, k + 1))


def _log_determinant(m):
    return jnp.linalg.slogdet(m)[1]


def _diag_pre_multiply(v, m):
    return v[:, None] * m


def _diag_post_multiply(m, v):
    return m * v[None, :]


def _quad_form(a, b):
    return b.T @ a @ b


def _quad_form_sym(a, b):
    """B' A B for a symmetric A, symmetrised (as Stan does) when B is a matrix."""
    out = b.T @ a @ b
    return out if out.ndim == 0 else 0.5 * (out + out.T)


def _quad_form_diag(m, v):
    return v[:, None] * m * v[None, :]


def _multiply_lower_tri_self_transpose(m):
    lower = jnp.tril(m)
    return lower @ lower.T


def _phi_approx(x):
    """Stan's logistic approximation of Phi: inv_logit(0.07056 x^3 + 1.5976 x)."""
    return jax.nn.sigmoid(0.07056 * x**3 + 1.5976 * x)


def _log_inv_logit_diff(x, y):
    """log(inv_logit(x) - inv_logit(y)) for x > y, as Stan writes it:
    x - log1p_exp(x) + log1m_exp(y - x) - log1p_exp(y)."""
    return x - jax.nn.softplus(x) + _log1m_exp(y - x) - jax.nn.softplus(y)


def _dims(name: str) -> Callable:
    def dims(x):
        shape = jnp.shape(x)
        n = {"rows": lambda: shape[0], "cols": lambda: shape[1],
             "num_elements": lambda: int(np.prod(shape))}[name]()
        return jnp.asarray(n, jnp.int32)

    return dims


def _head(x, n: int):
    return x[:n]


def _tail(x, n: int):
    return x[x.shape[0] - n:]


def _segment(x, start, n: int):
    """``x[start:start + n - 1]`` for a start known only when the model runs (data or an
    index): a start that would leave ``x`` gives NaN, not the clamped slice JAX would take."""
    start = jnp.asarray(start)
    piece = jax.lax.dynamic_slice_in_dim(x, start - 1, n)
    if not jnp.issubdtype(piece.dtype, jnp.floating):
        return piece
    inside = (start >= 1) & (start - 1 + n <= x.shape[0])
    return jnp.where(inside, piece, jnp.nan)


def _eigenvectors_sym(a):
    """Eigenvectors of a symmetric matrix as columns, in the order of the ascending eigenvalues,
    each with its largest entry (in absolute value) positive: a sign is arbitrary, and this
    one does not depend on the linear algebra library."""
    vectors = jnp.linalg.eigh(a)[1]
    largest = jnp.take_along_axis(vectors, jnp.argmax(jnp.abs(vectors), axis=0)[None], axis=0)
    return vectors * jnp.where(largest < 0, -1.0, 1.0)


def _solve(a, b):
    return jnp.linalg.solve(a, b)


def _solve_spd(a, b):
    """A symmetric A, solved through its Cholesky factor; A is symmetrised first, so that the
    gradient is symmetric too (as cholesky's: A has only its symmetric degrees of freedom)."""
    return jax.scipy.linalg.solve(0.5 * (a + a.T), b, assume_a="pos")


def _rep_vector(x, n: int):
    return jnp.full((n,), x, dtype=jnp.result_type(x, 1.0))


def _rep_array(x, *sizes: int):
    return jnp.broadcast_to(x, tuple(sizes) + jnp.shape(x))


def _rep_matrix(x, *sizes: int):
    """rep_matrix(x, m, n): m x n copies of the scalar x; rep_matrix(v, n): n columns, each
    the vector v."""
    x = jnp.asarray(x, jnp.result_type(x, 1.0))
    if len(sizes) == 2:
        return jnp.full(sizes, x)
    return jnp.broadcast_to(x[:, None], (x.shape[0], sizes[0]))


def _linspaced(n: int, lo, hi):
    """n evenly spaced values from lo to hi (both included); n = 1 gives hi, as in Stan."""
    lo, hi = (jnp.asarray(v, jnp.result_type(v, 1.0)) for v in (lo, hi))
    if n == 1:
        return jnp.reshape(hi, (1,))
    return lo + (hi - lo) * (jnp.arange(n) / (n - 1))


def _zeros(n: int):
    return jnp.zeros((n,), dtype=jnp.result_type(1.0))


def _ones(n: int):
    return jnp.ones((n,), dtype=jnp.result_type(1.0))


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
    FunctionSpec("mdivide_left", "solve", _solve,
                 "mdivide_left(A, b): x with A x = b, for a square (non-singular) A"),
    FunctionSpec("mdivide_left_spd", "solve", _solve_spd,
                 "mdivide_left_spd(A, b): x with A x = b, for a symmetric positive-definite A"),
    FunctionSpec("append_row", "append", _append_row,
                 "append_row(a, b): b below a (vectors joined, or matrices stacked by rows)"),
    FunctionSpec("append_col", "append", _append_col,
                 "append_col(A, B): B to the right of A (matrices with the same rows)"),
    FunctionSpec("diag_matrix", "diag", jnp.diag, "the diagonal matrix with the vector on "
                 "its diagonal"),
    FunctionSpec("log10", "elementwise", jnp.log10, "base-10 logarithm"),
    FunctionSpec("pi", "constant", lambda: jnp.pi, "the number pi"),
    FunctionSpec("e", "constant", lambda: jnp.e, "the base of the natural logarithm"),
    FunctionSpec("sqrt2", "constant", lambda: jnp.sqrt(2.0), "the square root of 2"),
    FunctionSpec("not_a_number", "constant", lambda: jnp.nan, "NaN (not a number)"),
    FunctionSpec("positive_infinity", "constant", lambda: jnp.inf, "+infinity"),
    FunctionSpec("negative_infinity", "constant", lambda: -jnp.inf,
                 "-infinity (the log weight of an impossible outcome)"),
    FunctionSpec("machine_precision", "constant", lambda: jnp.finfo(jnp.float64).eps,
                 "the smallest x with 1 + x != 1 in double precision (2.2e-16)"),
    FunctionSpec("log2", "elementwise", jnp.log2, "base-2 logarithm"),
    FunctionSpec("exp2", "elementwise", jnp.exp2, "2^x"),
    FunctionSpec("floor", "elementwise", jnp.floor,
                 "largest integer not greater than x (a real, as in Stan)"),
    FunctionSpec("ceil", "elementwise", jnp.ceil,
                 "smallest integer not less than x (a real, as in Stan)"),
    FunctionSpec("round", "elementwise", _round,
                 "nearest integer, halfway cases away from zero (a real, as in Stan)"),
    FunctionSpec("trunc", "elementwise", jnp.trunc,
                 "x with its fractional part dropped (towards zero; a real, as in Stan)"),
    FunctionSpec("erf", "elementwise", jsp.erf, "error function"),
    FunctionSpec("erfc", "elementwise", jsp.erfc, "complementary error function 1 - erf(x)"),
    FunctionSpec("inv_Phi", "elementwise", _inv_phi,
                 "standard normal quantile function (inverse of Phi)"),
    FunctionSpec("log1p_exp", "elementwise", jax.nn.softplus, "log(1 + exp(x)), stably"),
    FunctionSpec("log1m_exp", "elementwise", _log1m_exp, "log(1 - exp(x)) for x < 0, stably"),
    FunctionSpec("digamma", "elementwise", jsp.digamma,
                 "derivative of the log gamma function"),
    FunctionSpec("inv", "elementwise", lambda x: 1.0 / x, "1 / x"),
    FunctionSpec("inv_sqrt", "elementwise", jax.lax.rsqrt, "1 / sqrt(x)"),
    FunctionSpec("inv_square", "elementwise", lambda x: 1.0 / jnp.square(x), "1 / x^2"),
    FunctionSpec("fabs", "elementwise", jnp.abs, "absolute value (a real)"),
    FunctionSpec("tan", "elementwise", jnp.tan, "tangent"),
    FunctionSpec("atan", "elementwise", jnp.arctan, "inverse tangent"),
    FunctionSpec("asin", "elementwise", jnp.arcsin, "inverse sine"),
    FunctionSpec("acos", "elementwise", jnp.arccos, "inverse cosine"),
    FunctionSpec("cosh", "elementwise", jnp.cosh, "hyperbolic cosine"),
    FunctionSpec("sinh", "elementwise", jnp.sinh, "hyperbolic sine"),
    FunctionSpec("asinh", "elementwise", jnp.arcsinh, "inverse hyperbolic sine"),
    FunctionSpec("acosh", "elementwise", jnp.arccosh, "inverse hyperbolic cosine"),
    FunctionSpec("atanh", "elementwise", jnp.arctanh, "inverse hyperbolic tangent"),
    FunctionSpec("cbrt", "elementwise", jnp.cbrt, "cube root"),
    FunctionSpec("tgamma", "elementwise", lambda x: jnp.exp(jsp.gammaln(x)) * jsp.gammasgn(x),
                 "the gamma function"),
    FunctionSpec("prod", "reduce", jnp.prod, "product of all elements", keeps_int=True),
    FunctionSpec("dot_self", "vector_reduce", lambda x: jnp.dot(x, x),
                 "dot_self(x) = dot(x, x), the sum of squares of a vector"),
    FunctionSpec("sort_asc", "vector", jnp.sort, "the elements in ascending order",
                 keeps_int=True),
    FunctionSpec("sort_desc", "vector", lambda x: jnp.flip(jnp.sort(x)),
                 "the elements in descending order", keeps_int=True),
    FunctionSpec("inverse", "square_matrix", jnp.linalg.inv, "the inverse of a square matrix"),
    FunctionSpec("determinant", "square_reduce", jnp.linalg.det,
                 "the determinant of a square matrix"),
    FunctionSpec("log_determinant", "square_reduce", _log_determinant,
                 "log of the absolute value of the determinant of a square matrix"),
    FunctionSpec("diag_pre_multiply", "diag_multiply", _diag_pre_multiply,
                 "diag_pre_multiply(v, M) = diag_matrix(v) * M: row i of M times v[i]"),
    FunctionSpec("diag_post_multiply", "diag_multiply", _diag_post_multiply,
                 "diag_post_multiply(M, v) = M * diag_matrix(v): column j of M times v[j]"),
    FunctionSpec("quad_form", "quad_form", _quad_form,
                 "quad_form(A, B) = B' A B (a scalar when B is a vector)"),
    FunctionSpec("quad_form_sym", "quad_form", _quad_form_sym,
                 "quad_form_sym(A, B) = B' A B for a symmetric A (the result symmetric)"),
    FunctionSpec("quad_form_diag", "quad_form_diag", _quad_form_diag,
                 "quad_form_diag(M, v) = diag_matrix(v) * M * diag_matrix(v)"),
    FunctionSpec("multiply_lower_tri_self_transpose", "gram",
                 _multiply_lower_tri_self_transpose,
                 "L L' for L the lower-triangular part of M (the rest of M is ignored)"),
    FunctionSpec("tcrossprod", "gram", lambda m: m @ m.T, "tcrossprod(M) = M * M'"),
    FunctionSpec("crossprod", "gram", lambda m: m.T @ m, "crossprod(M) = M' * M"),
    FunctionSpec("columns_dot_self", "matrix", lambda m: jnp.sum(jnp.square(m), axis=0),
                 "the dot product of each column with itself: a vector of one per column"),
    FunctionSpec("rows_dot_self", "matrix", lambda m: jnp.sum(jnp.square(m), axis=1),
                 "the dot product of each row with itself: a vector of one per row"),
    FunctionSpec("rep_vector", "sized", _rep_vector,
                 "rep_vector(x, n): a vector of n copies of the scalar x (n known from the data)"),
    FunctionSpec("rep_row_vector", "sized", _rep_vector,
                 "rep_row_vector(x, n): as rep_vector (vectors have no orientation here)"),
    FunctionSpec("rep_array", "sized", _rep_array,
                 "rep_array(x, n) or rep_array(x, m, n): an array of n (m x n) copies of x, "
                 "which may itself be an array (sizes known from the data)", keeps_int=True),
    FunctionSpec("rep_matrix", "sized", _rep_matrix,
                 "rep_matrix(x, m, n): an m x n matrix of copies of the scalar x; "
                 "rep_matrix(v, n): n columns, each the vector v (sizes known from the data)"),
    FunctionSpec("linspaced_vector", "sized", _linspaced,
                 "linspaced_vector(n, lo, hi): n evenly spaced values from lo to hi, both "
                 "included (n known from the data; n = 1 gives hi, as in Stan)"),
    FunctionSpec("head", "sized", _head,
                 "head(x, n): the first n elements of x (n known from the data)",
                 keeps_int=True),
    FunctionSpec("tail", "sized", _tail,
                 "tail(x, n): the last n elements of x (n known from the data)", keeps_int=True),
    FunctionSpec("segment", "sized", _segment,
                 "segment(x, i, n): the n elements of x from the i-th on, x[i:i + n - 1] (n known "
                 "from the data; i may be data or an index); NaN where that leaves x",
                 keeps_int=True),
    FunctionSpec("zeros_vector", "sized", _zeros, "zeros_vector(n): a vector of n zeros"),
    FunctionSpec("ones_vector", "sized", _ones, "ones_vector(n): a vector of n ones"),
    FunctionSpec("dot_product", "dot", jnp.dot, "dot product of two vectors (Stan's name)"),
    FunctionSpec("squared_distance", "dot", lambda x, y: jnp.sum(jnp.square(x - y)),
                 "squared Euclidean distance between two vectors"),
    FunctionSpec("distance", "dot", lambda x, y: jnp.sqrt(jnp.sum(jnp.square(x - y))),
                 "Euclidean distance between two vectors"),
    FunctionSpec("cholesky_decompose", "square_matrix", jnp.linalg.cholesky,
                 "lower Cholesky factor L of a positive-definite matrix (Stan's name for "
                 "cholesky)"),
    FunctionSpec("diagonal", "square_matrix", jnp.diagonal, "the diagonal of a square matrix, "
                 "as a vector"),
    FunctionSpec("eigenvalues_sym", "square_matrix", jnp.linalg.eigvalsh,
                 "the eigenvalues of a symmetric matrix, ascending, as a vector"),
    FunctionSpec("eigenvectors_sym", "square_matrix", _eigenvectors_sym,
                 "the eigenvectors of a symmetric matrix as columns, in the order of "
                 "eigenvalues_sym, each with its largest entry positive"),
    FunctionSpec("kronecker_product", "kron", jnp.kron,
                 "the Kronecker product of an m x n and a p x q matrix: mp x nq"),

    FunctionSpec("trace", "square_reduce", jnp.trace, "the sum of the diagonal of a square "
                 "matrix"),
    FunctionSpec("rows", "dims", _dims("rows"), "the number of rows (elements of a vector)",
                 keeps_int=True),
    FunctionSpec("cols", "dims", _dims("cols"), "the number of columns of a matrix",
                 keeps_int=True),
    FunctionSpec("num_elements", "dims", _dims("num_elements"),
                 "the number of elements (1 for a scalar)", keeps_int=True),
    FunctionSpec("Phi_approx", "elementwise", _phi_approx,
                 "logistic approximation of Phi: inv_logit(0.07056 x^3 + 1.5976 x)"),
    FunctionSpec("inv_cloglog", "elementwise", lambda x: -jnp.expm1(-jnp.exp(x)),
                 "1 - exp(-exp(x))"),
    FunctionSpec("step", "elementwise", lambda x: jnp.where(x < 0, 0.0, 1.0),
                 "0 for x < 0, else 1 (a real, as in Stan)"),
    FunctionSpec("lmultiply", "binary", jsp.xlogy, "x log(y), with 0 log(0) = 0"),
    FunctionSpec("multiply_log", "binary", jsp.xlogy,
                 "x log(y), with 0 log(0) = 0 (Stan's older name for lmultiply)"),
    FunctionSpec("log_inv_logit_diff", "binary", _log_inv_logit_diff,
                 "log(inv_logit(x) - inv_logit(y)), stably (x > y)"),
    FunctionSpec("fma", "ternary", lambda x, y, z: x * y + z, "fma(x, y, z) = x * y + z"),
    FunctionSpec("pow", "binary", _pow, "x raised to the power y"),
    FunctionSpec("log_diff_exp", "binary", log_diff_exp,
                 "log(exp(x) - exp(y)), stably (x > y)"),
    FunctionSpec("lchoose", "binary", lchoose,
                 "log of the binomial coefficient: lchoose(n, k) = log(n! / (k! (n - k)!))"),
    FunctionSpec("lbeta", "binary", lbeta, "log of the beta function B(a, b)"),
    FunctionSpec("atan2", "binary", jnp.arctan2, "atan2(y, x): the angle of the point (x, y)"),
    FunctionSpec("hypot", "binary", jnp.hypot, "sqrt(x^2 + y^2), without overflow"),
    FunctionSpec("fdim", "binary", lambda x, y: jnp.maximum(x - y, 0.0),
                 "positive difference max(x - y, 0)"),
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
         "add_diag": (2, 2), "solve": (2, 2), "append": (2, 2), "vector_reduce": (1, 1),
         "square_reduce": (1, 1), "diag_multiply": (2, 2), "quad_form": (2, 2),
         "quad_form_diag": (2, 2), "gram": (1, 1), "sized": (1, 3),
         "ternary": (3, 3), "dims": (1, 1), "constant": (0, 0),
         "kron": (2, 2)}

# Arity and the positions of the size arguments of each ``sized`` function, by the number of
# arguments given.
SIZED: dict[str, dict[int, tuple[int, ...]]] = {
    "rep_vector": {2: (1,)}, "rep_row_vector": {2: (1,)}, "rep_array": {2: (1,), 3: (1, 2)},
    "rep_matrix": {2: (1,), 3: (1, 2)}, "linspaced_vector": {3: (0,)},
    "head": {2: (1,)}, "tail": {2: (1,)}, "segment": {3: (2,)}, "zeros_vector": {1: (0,)},
    "ones_vector": {1: (0,)},
}


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
    """The JAX function implementing ``spec`` for ``n_args`` arguments (a ``sized`` function
    takes its size arguments as Python ints, unconverted)."""
    impl = spec.impl[n_args - 1] if spec.rule == "reduce_or_binary" else spec.impl
    if spec.rule == "sized":
        return impl
    return impl if spec.keeps_int else _on_reals(impl)
