"""Cumulative distribution functions: one place for ``normal_lcdf``, ``normal_lccdf``,
``normal_cdf`` (and those of every univariate family that has one) and for truncation.

Each family gives its log CDF, ``log P(Y <= y)``, and its log complementary CDF, ``log P(Y >
y)`` (Stan's definitions, for discrete families too), from the language's arguments in Stan's
order. Both are written to keep their digits in their own tail: ``log_ndtr`` for the normal
family, closed forms on the log scale (``-(y / sigma)^alpha`` for the Weibull CCDF), and the
regularised incomplete gamma and beta functions, whose upper tails are computed directly
(``gammaincc``, ``betainc`` with swapped arguments) rather than as ``1 - CDF``. NumPyro's
``cdf`` methods are ``log``-unsafe in the tails and missing for the Weibull, binomial and
several others, so the forms here are the library's own.

JAX differentiates ``betainc`` in its last argument only; :func:`betainc` here adds the
derivatives in the other two, so that the beta family's shapes, the Student-t's degrees of
freedom and the negative binomial's shape may be parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
from jax.scipy.special import erf, gammainc, gammaincc, log_ndtr

from ppl.library.distributions import DISTRIBUTIONS, DistributionSpec
from ppl.library.functions import lbeta, lchoose
from ppl.library.skew_normal_cdf import skew_normal_log_cdfs
from ppl.library.von_mises_cdf import von_mises_log_cdfs

LOG_HALF = -0.6931471805599453
LOG_TWO = 0.6931471805599453


def log1m_exp(x):
    """log(1 - e^x) for x <= 0: log(-expm1(x)) near 0, log1p(-e^x) further down (each branch
    gets an argument that is safe for it, so the unused one gives no NaN gradient)."""
    x = jnp.minimum(x, 0.0)
    near = x > LOG_HALF
    return jnp.where(near, jnp.log(-jnp.expm1(jnp.where(near, x, -1.0))),
                     jnp.log1p(-jnp.exp(jnp.where(near, -1.0, x))))


# Relative step of the central differences in a and b below: the truncation error (~1e-10
# relative) and the rounding error (~1e-11) are both far below what sampling needs.
_STEP = 1e-5


@jax.custom_jvp
def betainc(a, b, x):
    """The regularised incomplete beta function I_x(a, b), differentiable in all three
    arguments. JAX's has no derivative in a and b (nor does the library offer one): those come
    from central differences of relative step 1e-5; the derivative in x is the beta density."""
    return jsp.betainc(a, b, x)


@betainc.defjvp
def _betainc_jvp(primals, tangents):
    a, b, x = primals
    da, db, dx = tangents
    value = jsp.betainc(a, b, x)
    ha, hb = _STEP * a, _STEP * b
    d_a = (jsp.betainc(a + ha, b, x) - jsp.betainc(a - ha, b, x)) / (2 * ha)
    d_b = (jsp.betainc(a, b + hb, x) - jsp.betainc(a, b - hb, x)) / (2 * hb)
    d_x = jnp.exp(jsp.xlogy(a - 1, x) + jsp.xlog1py(b - 1, -x) - lbeta(a, b))
    return value, d_a * da + d_b * db + d_x * dx


def _real(y):
    y = jnp.asarray(y)
    return y if jnp.issubdtype(y.dtype, jnp.floating) else jnp.asarray(y, jnp.result_type(y, 1.0))


def _positive(y, forms):
    """A family on y > 0: ``forms(y)`` -> (lcdf, lccdf) inside, (-inf, 0) at or below 0."""
    y = _real(y)
    inside = y > 0
    lcdf, lccdf = forms(jnp.where(inside, y, 1.0))
    return jnp.where(inside, lcdf, -jnp.inf), jnp.where(inside, lccdf, 0.0)


# ------------------------------------------------------------------ continuous families

def _normal(y, mu, sigma):
    z = (_real(y) - mu) / sigma
    return log_ndtr(z), log_ndtr(-z)


def _std_normal(y):
    return _normal(y, 0.0, 1.0)


def _half_normal(y, sigma):
    def forms(y):
        z = y / sigma
        lccdf = LOG_TWO + log_ndtr(-z)
        # erf keeps the digits of small values; near 1 its log is taken from the CCDF
        lcdf = jnp.where(z < 1.0, jnp.log(erf(jnp.minimum(z, 1.0) / jnp.sqrt(2.0))),
                         log1m_exp(jnp.where(z < 1.0, -1.0, lccdf)))
        return lcdf, lccdf
    return _positive(y, forms)


def _student_parts(t, nu):
    """(I_near, I_far, small): P(|T| <= |t|) = I_near and P(|T| > |t|) = I_far for a standard
    Student-t, each from betainc at an argument <= 1/2 (near 1 its slope is infinite, which
    makes NaN gradients); ``small`` says which of the two is computed (|t| <= sqrt(nu)). t = 0
    is moved by 1e-150 so that the slope there is the density, not 0 * inf."""
    t = t + jnp.where(t == 0, 1e-150, 0.0)
    t2 = jnp.square(t)
    small = t2 <= nu
    near = betainc(0.5, 0.5 * nu, jnp.where(small, t2 / (nu + t2), 0.25))
    far = betainc(0.5 * nu, 0.5, jnp.where(small, 0.25, nu / (nu + t2)))
    return near, far, small


def _student_tail(t, nu):
    """log P(T <= -|t|) and log P(T <= |t|) for a standard Student-t."""
    near, far, small = _student_parts(t, nu)
    return (LOG_HALF + jnp.where(small, jnp.log1p(-near), jnp.log(far)),
            jnp.where(small, LOG_HALF + jnp.log1p(near), jnp.log1p(-0.5 * far)))


def _student_t(y, nu, mu, sigma):
    t = (_real(y) - mu) / sigma
    far, near = _student_tail(t, nu)
    below = t < 0
    return jnp.where(below, far, near), jnp.where(below, near, far)


def _half_student_t(y, nu, sigma):
    def forms(y):
        near, far, small = _student_parts(y / sigma, nu)
        return (jnp.where(small, jnp.log(near), jnp.log1p(-far)),
                jnp.where(small, jnp.log1p(-near), jnp.log(far)))
    return _positive(y, forms)


def _cauchy(y, mu, sigma):
    # atan2(1, -z) / pi is the CDF without the cancellation of 1/2 + atan(z) / pi in the tails
    z = (_real(y) - mu) / sigma
    return jnp.log(jnp.arctan2(1.0, -z) / jnp.pi), jnp.log(jnp.arctan2(1.0, z) / jnp.pi)


def _half_cauchy(y, sigma):
    return _positive(y, lambda y: (jnp.log(jnp.arctan2(y, sigma) * (2 / jnp.pi)),
                                   jnp.log(jnp.arctan2(sigma, y) * (2 / jnp.pi))))


def _exponential(y, lam):
    return _positive(y, lambda y: (log1m_exp(-lam * y), -lam * y))


def _gamma(y, alpha, beta):
    return _positive(y, lambda y: (jnp.log(gammainc(alpha, beta * y)),
                                   jnp.log(gammaincc(alpha, beta * y))))


def _inv_gamma(y, alpha, beta):
    return _positive(y, lambda y: (jnp.log(gammaincc(alpha, beta / y)),
                                   jnp.log(gammainc(alpha, beta / y))))


def _lognormal(y, mu, sigma):
    return _positive(y, lambda y: _normal(jnp.log(y), mu, sigma))


def _beta(y, alpha, beta):
    y = _real(y)
    inside = (y > 0) & (y < 1)
    s = jnp.where(inside, y, 0.5)
    lcdf = jnp.log(betainc(alpha, beta, s))
    lccdf = jnp.log(betainc(beta, alpha, 1.0 - s))
    return (jnp.where(inside, lcdf, jnp.where(y <= 0, -jnp.inf, 0.0)),
            jnp.where(inside, lccdf, jnp.where(y <= 0, 0.0, -jnp.inf)))


def _beta_proportion(y, mu, kappa):
    return _beta(y, mu * kappa, (1.0 - mu) * kappa)


def _uniform(y, alpha, beta):
    y = _real(y)
    width = beta - alpha
    return (jnp.log(jnp.clip((y - alpha) / width, 0.0, 1.0)),
            jnp.log(jnp.clip((beta - y) / width, 0.0, 1.0)))


def _laplace(y, mu, sigma):
    z = (_real(y) - mu) / sigma
    # each tail is an exponential: log(1/2) + z below mu, log1p(-e^-|z| / 2) above it
    other = jnp.log1p(-0.5 * jnp.exp(-jnp.abs(z)))
    return (jnp.where(z < 0, LOG_HALF + z, other), jnp.where(z > 0, LOG_HALF - z, other))


def _logistic(y, mu, sigma):
    z = (_real(y) - mu) / sigma
    return jax.nn.log_sigmoid(z), jax.nn.log_sigmoid(-z)


def _weibull(y, alpha, sigma):
    return _positive(y, lambda y: (log1m_exp(-jnp.power(y / sigma, alpha)),
                                   -jnp.power(y / sigma, alpha)))


def _chi_square(y, nu):
    return _gamma(y, 0.5 * nu, 0.5)


def _inv_chi_square(y, nu):
    return _inv_gamma(y, 0.5 * nu, 0.5)


def _scaled_inv_chi_square(y, nu, s):
    return _inv_gamma(y, 0.5 * nu, 0.5 * nu * jnp.square(s))


def _gumbel(y, mu, beta):
    w = -jnp.exp(-(_real(y) - mu) / beta)
    return w, log1m_exp(w)


def _frechet(y, alpha, sigma):
    return _positive(y, lambda y: (-jnp.power(y / sigma, -alpha),
                                   log1m_exp(-jnp.power(y / sigma, -alpha))))


def _rayleigh(y, sigma):
    return _positive(y, lambda y: (log1m_exp(-0.5 * jnp.square(y / sigma)),
                                   -0.5 * jnp.square(y / sigma)))


def _pareto(y, y_min, alpha):
    y = _real(y)
    inside = y >= y_min
    # -alpha log(y / y_min), through log1p so that y just above y_min keeps its digits
    lccdf = -alpha * jnp.log1p((jnp.where(inside, y, y_min) - y_min) / y_min)
    return jnp.where(inside, log1m_exp(lccdf), -jnp.inf), jnp.where(inside, lccdf, 0.0)


def _exp_mod_normal(y, mu, sigma, lam):
    """Phi(z) - e^(lambda^2 sigma^2 / 2 - lambda (y - mu)) Phi(z - lambda sigma), z = (y - mu)
    / sigma; the CCDF is Phi(-z) plus the same term, so both are sums of logs of log_ndtr."""
    y = _real(y)
    z = (y - mu) / sigma
    shifted = 0.5 * jnp.square(lam * sigma) - lam * (y - mu) + log_ndtr(z - lam * sigma)
    first = log_ndtr(z)
    return first + log1m_exp(shifted - first), jnp.logaddexp(log_ndtr(-z), shifted)


def _skew_normal(y, xi, omega, alpha):
    return skew_normal_log_cdfs(_real(y), xi, omega, alpha)


def _von_mises(y, mu, kappa):
    return von_mises_log_cdfs(_real(y), mu, kappa)


# ------------------------------------------------------------------ discrete families

def _counts(y, lower, forms, upper=None):
    """A family on the integers from ``lower`` (to ``upper``): ``forms(k)`` -> (lcdf, lccdf)
    of k = floor(y) inside, (-inf, 0) below, (0, -inf) at or above ``upper``."""
    k = jax.lax.stop_gradient(jnp.floor(_real(y)))  # flat between integers: slope 0
    above = (k >= upper) if upper is not None else jnp.zeros(jnp.shape(k), bool)
    inside = (k >= lower) & ~above
    lcdf, lccdf = forms(jnp.where(inside, k, lower))
    return (jnp.where(inside, lcdf, jnp.where(above, 0.0, -jnp.inf)),
            jnp.where(inside, lccdf, jnp.where(above, -jnp.inf, 0.0)))


def _bernoulli(y, theta):
    return _counts(y, 0, lambda k: (jnp.log1p(-theta) + jnp.zeros_like(k),
                                    jnp.log(theta) + jnp.zeros_like(k)), 1)


def _binomial(y, n, theta):
    # P(Y <= k) = I_{1 - theta}(N - k, k + 1); P(Y > k) = I_theta(k + 1, N - k)
    n = _real(n)
    return _counts(y, 0, lambda k: (jnp.log(betainc(jnp.maximum(n - k, 1.0), k + 1, 1 - theta)),
                                    jnp.log(betainc(k + 1, jnp.maximum(n - k, 1.0), theta))), n)


def _poisson(y, lam):
    return _counts(y, 0, lambda k: (jnp.log(gammaincc(k + 1, lam)),
                                    jnp.log(gammainc(k + 1, lam))))


def _poisson_log(y, alpha):
    return _poisson(y, jnp.exp(alpha))


def _gamma_poisson(y, alpha, p, q):
    """A Poisson with a gamma(alpha, beta) rate, p = beta / (1 + beta), q = 1 - p (given
    separately, so that neither is computed as 1 minus the other)."""
    return _counts(y, 0, lambda k: (jnp.log(betainc(alpha, k + 1, p)),
                                    jnp.log(betainc(k + 1, alpha, q))))


def _neg_binomial(y, alpha, beta):
    return _gamma_poisson(y, alpha, beta / (1 + beta), 1 / (1 + beta))


def _neg_binomial_2(y, mu, phi):
    return _gamma_poisson(y, phi, phi / (mu + phi), mu / (mu + phi))


def _neg_binomial_2_log(y, eta, phi):
    log_phi = jnp.log(phi)
    return _gamma_poisson(y, phi, jax.nn.sigmoid(log_phi - eta), jax.nn.sigmoid(eta - log_phi))


def _beta_binomial_terms(k, n, a, b):
    """The terms summed for the beta-binomial CDFs at k: j = 0..k (the CDF) where that side is
    the shorter, else j = k + 1..N (the CCDF); as (first j, count, whether it is the CDF)."""
    lower = k + 1 <= n - k
    return jnp.where(lower, 0.0, k + 1), jnp.where(lower, k + 1, n - k), lower


def _beta_binomial_log_pmf(j, n, a, b):
    return lchoose(n, j) + lbeta(j + a, n - j + b) - lbeta(a, b)


def _beta_binomial_scores(j, n, a, b):
    """d/da and d/db of the log pmf at j."""
    psi = jsp.digamma
    common = psi(a + b) - psi(n + a + b)
    return psi(j + a) - psi(a) + common, psi(n - j + b) - psi(b) + common


@partial(jax.jit, static_argnames="scores")
def _beta_binomial_sum(k, n, a, b, scores: bool):
    """log of the sum of the pmf over the shorter side of k (and, if ``scores``, the
    derivatives of that log in a and b), by a loop as long as the longest side in the batch:
    N may be traced, so the number of terms is only known when the loop runs."""
    first, count, _ = _beta_binomial_terms(k, n, a, b)
    shape = jnp.shape(first)
    zero = jnp.zeros(shape)

    def body(state):
        i, total, d_a, d_b = state
        active = i < count
        j = jnp.where(active, first + i, first)
        term = jnp.where(active, _beta_binomial_log_pmf(j, n, a, b), -jnp.inf)
        new = jnp.logaddexp(total, term)
        # the running weighted means of the scores: old and new weights on the log scale
        keep = jnp.where(jnp.isfinite(new), jnp.exp(total - new), 0.0)
        add = jnp.where(jnp.isfinite(new), jnp.exp(term - new), 0.0)
        if scores:
            s_a, s_b = _beta_binomial_scores(j, n, a, b)
            d_a, d_b = keep * d_a + add * s_a, keep * d_b + add * s_b
        return i + 1, new, d_a, d_b

    state = (0, jnp.full(shape, -jnp.inf), zero, zero)
    _, total, d_a, d_b = jax.lax.while_loop(lambda s: jnp.any(s[0] < count), body, state)
    return total, d_a, d_b


@jax.custom_jvp
def _beta_binomial_side(k, n, a, b):
    """log P(Y <= k) or log P(Y > k), whichever has fewer terms (a while loop: its reverse-mode
    derivative comes from this JVP, whose loop runs on values only)."""
    return _beta_binomial_sum(k, n, a, b, scores=False)[0]


@_beta_binomial_side.defjvp
def _beta_binomial_side_jvp(primals, tangents):
    k, n, a, b = primals
    _, _, da, db = tangents
    total, d_a, d_b = _beta_binomial_sum(k, n, a, b, scores=True)
    return total, d_a * da + d_b * db


def _beta_binomial(y, n, alpha, beta):
    """Sums of the pmf on the shorter side of y (no closed form in JAX: it is a 3F2), the other
    side as log(1 - e^side)."""
    n = _real(n)

    def forms(k):
        k, nb, a, b = jnp.broadcast_arrays(k, n, alpha, beta)
        a, b = jnp.asarray(a, k.dtype), jnp.asarray(b, k.dtype)
        side = _beta_binomial_side(k, nb, a, b)
        lower = _beta_binomial_terms(k, nb, a, b)[2]
        other = log1m_exp(jnp.where(side < 0, side, -1.0))
        return jnp.where(lower, side, other), jnp.where(lower, other, side)
    return _counts(y, 0, forms, n)


FORMS: dict[str, Callable] = {
    "normal": _normal, "std_normal": _std_normal, "half_normal": _half_normal,
    "student_t": _student_t, "half_student_t": _half_student_t, "cauchy": _cauchy,
    "half_cauchy": _half_cauchy, "exponential": _exponential, "gamma": _gamma,
    "inv_gamma": _inv_gamma, "lognormal": _lognormal, "beta": _beta,
    "beta_proportion": _beta_proportion, "uniform": _uniform, "laplace": _laplace,
    "double_exponential": _laplace, "logistic": _logistic, "weibull": _weibull,
    "chi_square": _chi_square, "inv_chi_square": _inv_chi_square,
    "scaled_inv_chi_square": _scaled_inv_chi_square, "gumbel": _gumbel, "frechet": _frechet,
    "rayleigh": _rayleigh, "pareto": _pareto, "exp_mod_normal": _exp_mod_normal,
    "skew_normal": _skew_normal, "von_mises": _von_mises, "beta_binomial": _beta_binomial,
    "bernoulli": _bernoulli, "binomial": _binomial, "poisson": _poisson,
    "poisson_log": _poisson_log, "neg_binomial": _neg_binomial,
    "neg_binomial_2": _neg_binomial_2, "neg_binomial_2_log": _neg_binomial_2_log,
}

CDF_SUFFIXES = ("_lcdf", "_lccdf", "_cdf")


def has_cdf(name: str) -> bool:
    """Whether the family ``name`` has CDFs here (and so can be truncated)."""
    return name in FORMS


def cdf_function_names() -> list[str]:
    """Every ``_lcdf`` / ``_lccdf`` / ``_cdf`` function of the language."""
    return sorted(f"{name}{suffix}" for name in FORMS for suffix in CDF_SUFFIXES)


@dataclass(frozen=True)
class CdfCall:
    """A CDF function of the language: its family and which form (``lcdf``, ``lccdf``,
    ``cdf``)."""

    spec: DistributionSpec
    form: str


def cdf_spec(func: str) -> CdfCall | None:
    """The family and form of ``normal_lcdf``, ``poisson_lccdf``, ``gamma_cdf``, ...; None for
    any other name."""
    for suffix in CDF_SUFFIXES:
        if func.endswith(suffix) and func[: -len(suffix)] in FORMS:
            return CdfCall(DISTRIBUTIONS[func[: -len(suffix)]], suffix[1:])
    return None


def log_cdfs(name: str, y, args) -> tuple[jax.Array, jax.Array]:
    """(log P(Y <= y), log P(Y > y)) of the family ``name`` with ``args`` (Stan's order).

    Where one of the two is close to 0 (its probability close to 1) it is taken as log(1 -
    e^other) of the other, which then lies in its own tail and holds the digits: log(CDF)
    near 1 would round -1e-30 to 0."""
    lcdf, lccdf = FORMS[name](y, *args)
    upper, lower = lccdf < LOG_HALF, lcdf < LOG_HALF
    # the branch not taken gets -1 (a safe argument): log1m_exp(0) has an infinite slope
    return (jnp.where(upper, log1m_exp(jnp.where(upper, lccdf, -1.0)), lcdf),
            jnp.where(lower, log1m_exp(jnp.where(lower, lcdf, -1.0)), lccdf))


def evaluate_cdf(call: CdfCall, y, args) -> jax.Array:
    """The value of ``name_lcdf(y, args)``, ``name_lccdf`` or ``name_cdf``, element-wise."""
    lcdf, lccdf = log_cdfs(call.spec.name, y, args)
    if call.form == "lcdf":
        return lcdf
    if call.form == "lccdf":
        return lccdf
    return jnp.exp(lcdf)
