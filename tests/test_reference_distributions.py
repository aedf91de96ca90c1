"""Every distribution of the registry against an independent reference, through the language.

Each entry of :data:`REFERENCES` (keyed by registry name) gives a log density written from
Stan's definition (scipy.stats with Stan's parameterisation converted explicitly, or a closed
form where scipy has none) and points at which to compare it, some of them at or near the edges
of the support. The points are not given to NumPyro directly: models are generated from the
table (data statements and density functions in one, latents in another), each compiled and
evaluated once (jitted; the latents vmapped over a few unconstrained points), so what is
checked is the whole mapping from the DSL to NumPyro: the argument names and order of the
registry, named arguments, the ``_lpdf`` / ``_lpmf`` function forms, the support used as the
latent's transform (with its log-Jacobian against ``slogdet`` of ``jax.jacobian``), and the
value ``-inf`` outside the support (Stan rejects such a value; a finite number there would make
an impossible value look plausible). When the models of all entries fail to build, each entry
is evaluated alone, so that only the broken entry's tests fail.

A registry entry without a reference fails :func:`test_every_distribution_has_a_reference`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from model_text import declaration
from scipy import special, stats

import ppl
from ppl.library.distributions import DISTRIBUTIONS, density_spec
from ppl.library.functions import FUNCTIONS

RNG = np.random.default_rng(2024_06_20)


@dataclass(frozen=True)
class Reference:
    """``params``: the argument names, in order, as documented (docs/language.md, after Stan).
    ``logpdf(value, *args)``: the log density in that parameterisation. ``points``:
    ``(value, *args)`` tuples, inside the support (the boundary included where the density is
    finite there, as Stan allows). ``outside``: points outside the support, where the right
    answer is ``-inf``."""

    params: str
    logpdf: Callable[..., float]
    points: tuple[tuple, ...]
    outside: tuple[tuple, ...] = ()
    rtol: float = 1e-9


def _half_student_t(y, nu, sigma):
    """Stan's half-Student-t: the Student-t(nu, 0, sigma) density doubled on y >= 0."""
    return np.log(2.0) + stats.t.logpdf(y, nu, 0.0, sigma)


def _logit_bernoulli(k, alpha):
    """log inv_logit(alpha) or log(1 - inv_logit(alpha)), computed without cancellation."""
    return special.log_expit(alpha) if k == 1 else special.log_expit(-alpha)


def _binomial_logit(k, n, alpha):
    """Stan: choose(n, k) inv_logit(alpha)^k (1 - inv_logit(alpha))^(n - k), on the log scale
    with log_expit so that |alpha| = 40 keeps full precision."""
    log_choose = special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
    return log_choose + k * special.log_expit(alpha) + (n - k) * special.log_expit(-alpha)


def _poisson_log(k, alpha):
    """Stan's poisson_log: Poisson with rate exp(alpha), written on the log scale."""
    return k * alpha - np.exp(alpha) - special.gammaln(k + 1)


def _neg_binomial_2(k, mu, phi):
    """Stan: mean mu, variance mu + mu^2 / phi; scipy's nbinom(n = phi, p = phi / (mu + phi))."""
    return stats.nbinom.logpmf(k, phi, phi / (mu + phi))


def _lkj_corr_cholesky(chol, eta):
    """Stan's closed form: log LKJ(L L' | eta) plus the Jacobian of L -> L L', i.e.
    sum_{k=2}^{K} (K - k + 2 eta - 2) log L[k, k], minus the log of the LKJ normalising constant
    c_K(eta) = 2^{sum_k (2 eta - 2 + K - k)(K - k)} prod_k B(eta + (K - k - 1)/2, same)^{K - k}
    (Lewandowski, Kurowicka and Joe 2009, with k = 1..K-1)."""
    chol = np.asarray(chol)
    size = chol.shape[0]
    ks = np.arange(2, size + 1)
    kernel = np.sum((size - ks + 2 * eta - 2) * np.log(np.diag(chol)[1:]))
    return kernel - _lkj_log_c(size, eta)


def _lkj_log_c(size: int, eta: float) -> float:
    """log c_K(eta), the LKJ normalising constant (see :func:`_lkj_corr_cholesky`)."""
    ks = np.arange(1, size)
    b = eta + (size - ks - 1) / 2.0
    return (np.log(2.0) * np.sum((2 * eta - 2 + size - ks) * (size - ks))
            + np.sum((size - ks) * special.betaln(b, b)))


def _lkj_corr(corr, eta):
    """Stan's lkj_corr: det(Omega)^(eta - 1) / c_K(eta), with the normalising constant c_K of
    :func:`_lkj_corr_cholesky`."""
    corr = np.asarray(corr)
    return (eta - 1) * np.linalg.slogdet(corr)[1] - _lkj_log_c(corr.shape[0], eta)


def _random_corr(size: int) -> np.ndarray:
    chol = _random_corr_cholesky(size)
    return chol @ chol.T


def _random_corr_cholesky(size: int) -> np.ndarray:
    rows = RNG.normal(size=(size, size))
    chol = np.tril(rows)
    chol[np.diag_indices(size)] = np.abs(np.diag(chol)) + 0.2
    return chol / np.linalg.norm(chol, axis=1, keepdims=True)


def _random_covariance(size: int) -> np.ndarray:
    a = RNG.normal(size=(size, size))
    return a @ a.T + size * np.eye(size)


def _ordered_logistic(k, eta, c):
    """Stan: inv_logit(eta - c[k - 1]) - inv_logit(eta - c[k]), with c[0] = -inf, c[K] = +inf."""
    cuts = np.concatenate([[-np.inf], np.asarray(c, float), [np.inf]])
    return np.log(special.expit(eta - cuts[k - 1]) - special.expit(eta - cuts[k]))


def _ordered_probit(k, eta, c):
    """Stan: Phi(eta - c[k - 1]) - Phi(eta - c[k]), with c[0] = -inf, c[K] = +inf."""
    cuts = np.concatenate([[-np.inf], np.asarray(c, float), [np.inf]])
    a, b = eta - cuts[k - 1], eta - cuts[k]
    if b > 0:  # both in the upper tail: the difference of the survival functions keeps digits
        return np.log(stats.norm.sf(b) - stats.norm.sf(a))
    return np.log(stats.norm.cdf(a) - stats.norm.cdf(b))


def _multi_student_t(x, nu, mu, cov):
    return stats.multivariate_t.logpdf(x, mu, cov, df=nu)


_S3 = _random_covariance(3)
_S2 = _random_covariance(2)

def _eta(x, alpha, beta):
    return alpha + np.asarray(x) @ np.asarray(beta)


# A GLM form's value has one element per row of x; its reference is one log density per row.
_X = RNG.normal(size=(3, 2))
_GLM_POINTS = ((_X, 0.3, np.array([0.5, -1.2])),
               (_X, np.array([-0.4, 0.0, 1.1]), np.array([2.0, 0.7])))


REFERENCES: dict[str, Reference] = {
    "normal": Reference("mu sigma",
        lambda y, mu, sigma: stats.norm.logpdf(y, mu, sigma),
        ((0.3, 0.0, 1.0), (-2.5, 1.0, 0.5), (12.0, -1.0, 2.0), (1e-3, 2e-3, 1e-4))),
    "half_normal": Reference("sigma",
        lambda y, sigma: stats.halfnorm.logpdf(y, scale=sigma),
        ((0.0, 1.0), (0.5, 2.0), (4.0, 0.7), (1e-8, 1e-3)), outside=((-0.1, 1.0),)),
    "student_t": Reference("nu mu sigma",
        lambda y, nu, mu, sigma: stats.t.logpdf(y, nu, mu, sigma),
        ((0.5, 3.0, 0.0, 1.0), (-4.0, 1.5, 1.0, 2.0), (30.0, 2.5, 0.0, 1.0),
         (0.1, 1e3, 0.0, 1.0))),
    "half_student_t": Reference("nu sigma",
        _half_student_t,
        ((0.0, 3.0, 1.0), (2.5, 4.0, 1.5), (40.0, 1.0, 2.0)), outside=((-1.0, 3.0, 1.0),)),
    "cauchy": Reference("mu sigma",
        lambda y, mu, sigma: stats.cauchy.logpdf(y, mu, sigma),
        ((0.0, 0.0, 1.0), (5.0, -1.0, 0.5), (1e3, 0.0, 1.0))),
    "half_cauchy": Reference("sigma",
        lambda y, sigma: stats.halfcauchy.logpdf(y, scale=sigma),
        ((0.0, 1.0), (3.0, 2.0), (1e4, 0.5)), outside=((-1.0, 1.0),)),
    "exponential": Reference("lambda",  # lambda is a rate: scipy's scale is 1 / lambda
        lambda y, lam: stats.expon.logpdf(y, scale=1.0 / lam),
        ((0.0, 2.0), (1.5, 0.5), (1e-10, 3.0), (50.0, 0.1)), outside=((-1.0, 2.0),)),
    "gamma": Reference("alpha beta",  # beta is a rate
        lambda y, alpha, beta: stats.gamma.logpdf(y, alpha, scale=1.0 / beta),
        ((1e-10, 0.5, 2.0), (0.0, 1.0, 2.0), (2.5, 3.0, 1.5), (40.0, 2.0, 0.1)),
        outside=((-1.0, 2.0, 1.0),)),
    "inv_gamma": Reference("alpha beta",  # beta is a scale
        lambda y, alpha, beta: stats.invgamma.logpdf(y, alpha, scale=beta),
        ((0.01, 2.0, 1.0), (1.5, 3.0, 2.0), (100.0, 1.5, 0.5)), outside=((-1.0, 2.0, 1.0),)),
    "lognormal": Reference("mu sigma",
        lambda y, mu, sigma: stats.lognorm.logpdf(y, sigma, scale=np.exp(mu)),
        ((1e-5, 0.0, 1.0), (1.5, 0.3, 0.5), (200.0, 2.0, 1.5)), outside=((-1.0, 0.0, 1.0),)),
    "beta": Reference("alpha beta",
        lambda y, a, b: stats.beta.logpdf(y, a, b),
        ((1e-9, 0.5, 0.5), (1 - 1e-9, 2.0, 0.7), (0.3, 2.0, 5.0), (0.0, 1.0, 3.0)),
        outside=((1.5, 2.0, 2.0), (-0.1, 2.0, 2.0))),
    "uniform": Reference("alpha beta",  # closed interval, as in Stan: the ends are inside
        lambda y, lo, hi: stats.uniform.logpdf(y, lo, hi - lo),
        ((0.5, 0.0, 1.0), (-1.999, -2.0, 3.0), (2.5, -1.0, 2.5)),
        outside=((2.0, 0.0, 1.0), (-0.5, 0.0, 1.0))),
    "laplace": Reference("mu sigma",
        lambda y, mu, sigma: stats.laplace.logpdf(y, mu, sigma),
        ((0.0, 0.0, 1.0), (-3.0, 1.0, 0.5), (20.0, 0.0, 2.0))),
    "logistic": Reference("mu sigma",
        lambda y, mu, sigma: stats.logistic.logpdf(y, mu, sigma),
        ((0.0, 0.0, 1.0), (-3.0, 1.0, 0.5), (40.0, 0.0, 1.0))),
    "weibull": Reference("alpha sigma",  # shape alpha first, then scale sigma
        lambda y, alpha, sigma: stats.weibull_min.logpdf(y, alpha, scale=sigma),
        ((0.5, 2.0, 1.0), (3.0, 1.5, 2.0), (1e-6, 0.5, 1.0), (0.0, 1.0, 2.0)),
        outside=((-1.0, 2.0, 1.0),)),
    "chi_square": Reference("nu",
        lambda y, nu: stats.chi2.logpdf(y, nu),
        ((1e-6, 1.0), (3.0, 4.0), (0.0, 2.0), (60.0, 20.0)), outside=((-1.0, 3.0),)),
    "bernoulli": Reference("theta",
        lambda k, theta: stats.bernoulli.logpmf(k, theta),
        ((0, 0.3), (1, 0.3), (1, 1e-12), (1, 1.0), (0, 0.0)),
        outside=((2, 0.3), (-1, 0.3))),
    "bernoulli_logit": Reference("alpha",
        _logit_bernoulli,
        ((1, 0.5), (0, 0.5), (1, -40.0), (0, 40.0), (1, 40.0)), outside=((2, 0.3),)),
    "binomial": Reference("N theta",
        lambda k, n, theta: stats.binom.logpmf(k, n, theta),
        ((0, 5, 0.3), (5, 5, 0.3), (3, 10, 0.9), (0, 4, 0.0), (7, 7, 1.0)),
        outside=((6, 5, 0.3), (-1, 5, 0.3))),
    "binomial_logit": Reference("N alpha",
        _binomial_logit,
        ((0, 5, -1.0), (5, 5, 2.0), (3, 10, 0.4), (50, 100, -40.0), (0, 100, -40.0)),
        outside=((6, 5, 0.3),)),
    "poisson": Reference("lambda",
        lambda k, lam: stats.poisson.logpmf(k, lam),
        ((0, 0.5), (3, 2.5), (0, 1e-10), (100, 80.0)), outside=((-1, 2.0),)),
    "poisson_log": Reference("alpha",
        _poisson_log,
        ((0, -1.0), (3, 1.0), (2, -30.0), (500, 6.2)), outside=((-1, 0.3),)),
    "neg_binomial_2": Reference("mu phi",
        _neg_binomial_2,
        ((0, 2.0, 3.0), (5, 2.0, 0.5), (12, 10.0, 100.0), (1, 1e-3, 2.0)),
        outside=((-1, 2.0, 3.0),)),
    "categorical": Reference("theta",  # values are 1..K
        lambda k, theta: np.log(np.asarray(theta)[k - 1]),
        ((1, np.array([0.2, 0.3, 0.5])), (3, np.array([0.2, 0.3, 0.5])),
         (2, np.array([1e-12, 1 - 2e-12, 1e-12])))),
    "dirichlet": Reference("alpha",
        lambda x, alpha: stats.dirichlet.logpdf(x, alpha),
        ((np.array([0.2, 0.3, 0.5]), np.array([1.0, 2.0, 3.0])),
         (np.array([1e-6, 0.5 - 1e-6, 0.5]), np.array([0.5, 2.0, 2.0])))),
    "multi_normal": Reference("mu Sigma",
        lambda x, mu, cov: stats.multivariate_normal.logpdf(x, mu, cov),
        ((np.array([0.4, -0.2, 1.0]), np.array([0.0, 1.0, -1.0]), _S3),
         (np.array([3.0, -2.0]), np.array([0.5, 0.5]), _S2))),
    "multi_normal_prec": Reference("mu Omega",
        lambda x, mu, prec: stats.multivariate_normal.logpdf(x, mu, np.linalg.inv(prec)),
        ((np.array([0.4, -0.2, 1.0]), np.array([0.0, 1.0, -1.0]), np.linalg.inv(_S3)),
         (np.array([3.0, -2.0]), np.array([0.5, 0.5]), _S2))),
    "multi_normal_cholesky": Reference("mu L",
        lambda x, mu, chol: stats.multivariate_normal.logpdf(x, mu, chol @ chol.T),
        ((np.array([0.4, -0.2, 1.0]), np.array([0.0, 1.0, -1.0]), np.linalg.cholesky(_S3)),
         (np.array([3.0, -2.0]), np.array([0.5, 0.5]), np.linalg.cholesky(_S2)))),
    "lkj_corr_cholesky": Reference("eta",
        _lkj_corr_cholesky,
        ((_random_corr_cholesky(3), 2.0), (_random_corr_cholesky(3), 0.5),
         (_random_corr_cholesky(2), 1.0), (_random_corr_cholesky(4), 3.5))),
    "std_normal": Reference("", lambda y: stats.norm.logpdf(y), ((0.3,), (-2.5,), (12.0,))),
    "double_exponential": Reference("mu sigma",
        lambda y, mu, sigma: stats.laplace.logpdf(y, mu, sigma),
        ((0.0, 0.0, 1.0), (-3.0, 1.0, 0.5), (20.0, 0.0, 2.0))),
    "gumbel": Reference("mu beta",
        lambda y, mu, beta: stats.gumbel_r.logpdf(y, mu, beta),
        ((0.0, 0.0, 1.0), (-2.0, 1.0, 0.5), (15.0, 0.0, 2.0))),
    "skew_normal": Reference("xi omega alpha",
        lambda y, xi, omega, alpha: stats.skewnorm.logpdf(y, alpha, xi, omega),
        ((0.3, 0.0, 1.0, 2.0), (-1.5, 1.0, 0.5, -3.0), (2.0, 0.0, 2.0, 0.0),
         (-4.0, 0.0, 1.0, 5.0))),
    "exp_mod_normal": Reference("mu sigma lambda",  # scipy's K = 1 / (sigma lambda)
        lambda y, mu, sigma, lam: stats.exponnorm.logpdf(y, 1 / (sigma * lam), mu, sigma),
        ((0.3, 0.0, 1.0, 2.0), (-1.5, 1.0, 0.5, 0.3), (6.0, 0.0, 2.0, 1.0),
         (-3.0, 0.0, 1.0, 5.0))),
    "von_mises": Reference("mu kappa",
        lambda y, mu, kappa: stats.vonmises.logpdf(y, kappa, loc=mu),
        ((0.3, 0.0, 1.0), (-2.0, 1.0, 0.5), (3.0, -1.0, 20.0), (0.1, 0.2, 1e-3))),
    "pareto": Reference("y_min alpha",  # closed at y_min, as in Stan
        lambda y, y_min, alpha: stats.pareto.logpdf(y, alpha, scale=y_min),
        ((1.0, 1.0, 2.0), (3.5, 0.5, 1.5), (1e4, 2.0, 0.7)),
        outside=((0.5, 1.0, 2.0), (-1.0, 1.0, 2.0))),
    "frechet": Reference("alpha sigma",
        lambda y, alpha, sigma: stats.invweibull.logpdf(y, alpha, scale=sigma),
        ((0.5, 2.0, 1.0), (3.0, 1.5, 2.0), (0.05, 0.8, 1.0), (100.0, 3.0, 0.5)),
        outside=((-1.0, 2.0, 1.0), (0.0, 2.0, 1.0))),
    "rayleigh": Reference("sigma",
        lambda y, sigma: stats.rayleigh.logpdf(y, scale=sigma),
        ((0.5, 1.0), (3.0, 2.0), (1e-6, 0.5)), outside=((-1.0, 1.0), (0.0, 1.0))),
    "inv_chi_square": Reference("nu",
        lambda y, nu: stats.invgamma.logpdf(y, nu / 2, scale=0.5),
        ((0.5, 3.0), (2.0, 1.0), (0.01, 10.0)), outside=((-1.0, 2.0),)),
    "scaled_inv_chi_square": Reference("nu s",
        lambda y, nu, sc: stats.invgamma.logpdf(y, nu / 2, scale=nu * sc**2 / 2),
        ((0.5, 3.0, 1.0), (2.0, 1.0, 0.5), (0.01, 10.0, 0.2)), outside=((-1.0, 2.0, 1.0),)),
    "beta_proportion": Reference("mu kappa",
        lambda y, mu, kappa: stats.beta.logpdf(y, mu * kappa, (1 - mu) * kappa),
        ((0.3, 0.5, 2.0), (0.9, 0.2, 10.0), (1e-6, 0.3, 3.0)),
        outside=((1.5, 0.5, 2.0), (-0.1, 0.5, 2.0))),
    "beta_binomial": Reference("N alpha beta",
        lambda k, n, a, b: stats.betabinom.logpmf(k, n, a, b),
        ((0, 5, 1.0, 2.0), (5, 5, 0.5, 0.5), (3, 10, 2.0, 7.0), (40, 100, 30.0, 20.0)),
        outside=((6, 5, 1.0, 1.0), (-1, 5, 1.0, 1.0))),
    "neg_binomial": Reference("alpha beta",  # scipy's nbinom(n = alpha, p = beta / (1 + beta))
        lambda k, alpha, beta: stats.nbinom.logpmf(k, alpha, beta / (1 + beta)),
        ((0, 2.0, 1.0), (5, 0.5, 0.2), (12, 100.0, 10.0), (1, 1e-3, 2.0)),
        outside=((-1, 2.0, 1.0),)),
    "neg_binomial_2_log": Reference("eta phi",
        lambda k, eta, phi: _neg_binomial_2(k, np.exp(eta), phi),
        ((0, 0.5, 3.0), (5, 1.0, 0.5), (12, 2.3, 100.0), (1, -7.0, 2.0)),
        outside=((-1, 0.5, 3.0),)),
    "categorical_logit": Reference("beta",  # values are 1..K
        lambda k, beta: np.asarray(beta)[k - 1] - special.logsumexp(beta),
        ((1, np.array([0.2, -1.3, 2.5])), (3, np.array([0.2, -1.3, 2.5])),
         (2, np.array([-40.0, 30.0, 0.0])))),
    "ordered_logistic": Reference("eta c",  # values are 1..K, K - 1 cutpoints
        _ordered_logistic,
        ((1, 0.3, np.array([-1.0, 0.5, 2.0])), (2, 0.3, np.array([-1.0, 0.5, 2.0])),
         (4, -1.2, np.array([-1.0, 0.5, 2.0])), (2, 1.0, np.array([0.0, 3.0])))),
    "ordered_probit": Reference("eta c",  # values are 1..K, K - 1 cutpoints
        _ordered_probit,
        ((1, 0.3, np.array([-1.0, 0.5, 2.0])), (2, 0.3, np.array([-1.0, 0.5, 2.0])),
         (4, -1.2, np.array([-1.0, 0.5, 2.0])), (1, 6.0, np.array([0.0, 3.0])),
         (2, 8.0, np.array([0.0, 3.0])))),
    "multi_student_t": Reference("nu mu Sigma",
        _multi_student_t,
        ((np.array([0.4, -0.2, 1.0]), 3.0, np.array([0.0, 1.0, -1.0]), _S3),
         (np.array([3.0, -2.0]), 7.5, np.array([0.5, 0.5]), _S2))),
    "lkj_corr": Reference("eta",
        _lkj_corr,
        ((_random_corr(3), 2.0), (_random_corr(3), 0.5), (_random_corr(2), 1.0),
         (_random_corr(4), 3.5))),
    "wishart": Reference("nu Sigma",
        lambda x, nu, S: stats.wishart(nu, S).logpdf(x),
        ((_random_covariance(3), 5.0, _S3), (_random_covariance(2), 2.5, _S2))),
    "inv_wishart": Reference("nu Sigma",
        lambda x, nu, S: stats.invwishart(nu, S).logpdf(x),
        ((_random_covariance(3), 5.0, _S3), (_random_covariance(2), 3.5, _S2))),
    "bernoulli_logit_glm": Reference("x alpha beta",
        lambda k, x, a, b: stats.bernoulli.logpmf(k, special.expit(_eta(x, a, b))),
        tuple((np.array(k), *p) for k, p in zip(([0, 1, 1], [1, 0, 0]), _GLM_POINTS))),
    "poisson_log_glm": Reference("x alpha beta",
        lambda k, x, a, b: stats.poisson.logpmf(k, np.exp(_eta(x, a, b))),
        tuple((np.array(k), *p) for k, p in zip(([0, 3, 1], [7, 0, 2]), _GLM_POINTS))),
    "normal_id_glm": Reference("x alpha beta sigma",
        lambda y, x, a, b, sigma: stats.norm.logpdf(y, _eta(x, a, b), sigma),
        tuple((np.array(y), *p, s) for y, p, s in
              zip(([0.2, -1.0, 3.0], [1.5, 0.0, -0.3]), _GLM_POINTS,
                  (0.8, np.array([0.5, 1.0, 2.5]))))),
    "multinomial": Reference("theta",  # N is the sum of the counts
        lambda k, theta: stats.multinomial.logpmf(k, np.sum(k), theta),
        ((np.array([2, 0, 5]), np.array([0.2, 0.3, 0.5])),
         (np.array([0, 0, 4]), np.array([0.0, 0.1, 0.9])),
         (np.array([13, 1]), np.array([0.75, 0.25])))),
    "flat": Reference("", lambda y: 0.0, ((3.2,), (-1e5,))),
    "half_flat": Reference("", lambda y: 0.0, ((2.0,), (1e-8,))),
}


# Where each support named by the registry holds (closed at finite ends, as Stan's checks are).
SUPPORTS: dict[str, Callable[..., bool]] = {
    "real": lambda x, *args: bool(np.all(np.isfinite(x))),
    "positive": lambda x, *args: bool(np.all(x >= 0)),
    "unit_interval": lambda x, *args: bool(np.all((x >= 0) & (x <= 1))),
    "interval": lambda x, lo, hi: bool(np.all((x >= lo) & (x <= hi))),
    "binary": lambda k, *args: bool(np.all((k == 0) | (k == 1))),
    "bounded_integer": lambda k, n, *args: bool(np.all((k >= 0) & (k <= n))),
    "nonnegative_integer": lambda k, *args: bool(np.all(k >= 0)),
    "category": lambda k, theta: bool(1 <= k <= len(theta)),
    "ordinal": lambda k, eta, c: bool(1 <= k <= len(c) + 1),
    "lower_bounded": lambda x, lo, *args: bool(np.all(x >= lo)),
    "simplex": lambda x, *args: bool(np.all(x >= 0) and np.isclose(np.sum(x), 1.0)),
    "counts": lambda k, *args: bool(np.all(k >= 0)),
    "corr_matrix": lambda m, *args: bool(
        np.allclose(m, m.T) and np.allclose(np.diag(m), 1.0)
        and np.all(np.linalg.eigvalsh(m) > 0)),
    "corr_cholesky": lambda m, *args: bool(
        np.allclose(m, np.tril(m)) and np.all(np.diag(m) > 0)
        and np.allclose(np.linalg.norm(m, axis=1), 1.0)),
    "positive_definite": lambda m, *args: bool(
        np.allclose(m, m.T) and np.all(np.linalg.eigvalsh(m) > 0)),
}


def _univariate(name: str) -> bool:
    spec = DISTRIBUTIONS[name]
    return spec.event_rank == 0 and not any(spec.ranks())


def _density_function(name: str) -> str:
    return f"{name}_{'lpmf' if DISTRIBUTIONS[name].discrete else 'lpdf'}"


# ------------------------------------------------------------------ the generated model

def _column(points, j: int):
    return np.asarray([p[j] for p in points])


def _call(name: str, args: list[str], named: bool = False) -> str:
    params = REFERENCES[name].params.split()
    if named:  # every argument by name, in reverse order
        inner = ", ".join(f"{p} = {a}" for p, a in reversed(list(zip(params, args))))
    else:
        inner = ", ".join(args)
    return f"{name}({inner})"


@dataclass
class _Generated:
    lines: list[str]
    data: dict[str, np.ndarray]

    def declare(self, var: str, value) -> str:
        self.lines.append(f"data {var}: {declaration(value)}")
        self.data[var] = np.asarray(value)
        return var


def _add_univariate(g: _Generated, name: str, ref: Reference) -> None:
    spec = DISTRIBUTIONS[name]
    n_args = len(spec.params)
    args = [g.declare(f"a{j}_{name}", _column(ref.points, j + 1)) for j in range(n_args)]
    values = _column(ref.points, 0)
    if spec.proper:
        g.declare(f"y_{name}", values)
        g.lines.append(f"y_{name} ~ {_call(name, args)}")
        g.declare(f"n_{name}", values)
        g.lines.append(f"n_{name} ~ {_call(name, args, named=True)}")
        g.lines.append(f"lp_{name} = {_density_function(name)}"
                       f"({', '.join([f'y_{name}', *args])})")
        if ref.outside:
            out_args = [g.declare(f"b{j}_{name}", _column(ref.outside, j + 1))
                        for j in range(n_args)]
            g.declare(f"o_{name}", _column(ref.outside, 0))
            g.lines.append(f"o_{name} ~ {_call(name, out_args)}")
            g.lines.append(f"lo_{name} = {_density_function(name)}"
                           f"({', '.join([f'o_{name}', *out_args])})")
    if not spec.discrete:  # as the prior of a latent: through its support's transform
        g.lines.append(f"x_{name}: vector[{len(ref.points)}] ~ {_call(name, args)}")


def _add_multivariate(g: _Generated, name: str, ref: Reference) -> None:
    spec = DISTRIBUTIONS[name]
    for i, (value, *point_args) in enumerate(ref.points):
        args = [g.declare(f"a{j}_{name}_{i}", a) for j, a in enumerate(point_args)
                if j < len(spec.params)]
        g.declare(f"y_{name}_{i}", value)
        g.lines.append(f"y_{name}_{i} ~ {_call(name, args)}")
        g.declare(f"n_{name}_{i}", value)
        g.lines.append(f"n_{name}_{i} ~ {_call(name, args, named=True)}")
        if not spec.discrete:
            g.lines.append(f"x_{name}_{i}: {declaration(value)} ~ {_call(name, args)}")


def _generate(names) -> _Generated:
    g = _Generated([], {})
    for name in names:
        if _univariate(name):
            _add_univariate(g, name, REFERENCES[name])
        else:
            _add_multivariate(g, name, REFERENCES[name])
    return g


N_POINTS = 3  # unconstrained points at which the latents are checked


def _model(g: _Generated, keep):
    lines = [line for line in g.lines if keep(line)]
    declared = {line.split()[1].rstrip(":") for line in lines if line.startswith("data ")}
    return ppl.model("\n".join(lines) + "\n").compile(
        {k: v for k, v in g.data.items() if k in declared})


def _evaluate(names):
    """The generated statements of ``names`` as two compiled models, each evaluated in one
    jitted call: the data side (observed statements and density functions, which do not depend
    on the parameters) once, and the latents (``x_...``, with the data arguments) at
    ``N_POINTS`` random unconstrained points, vmapped."""
    g = _generate(names)
    observed = _model(g, lambda line: not line.startswith("x_"))
    nothing = jnp.zeros((0,))
    pointwise, generated = jax.jit(
        lambda u: (observed.pointwise_log_likelihood(u), observed.generated(u)))(nothing)
    if not any(line.startswith("x_") for line in g.lines):  # discrete families only
        return None, pointwise, generated, {}, {}, {}
    latent = _model(g, lambda line: line.startswith(("x_", "data a")))

    def one(u):
        terms = {node.name: value for node, value in latent.statement_terms(u)}
        jacobians, values = jax.jacfwd(lambda v: (latent.constrain(v),) * 2, has_aux=True)(u)
        return terms, values, jacobians

    points = jnp.asarray(RNG.uniform(-1.5, 1.5, size=(N_POINTS, latent.dimension)))
    terms, values, jacobians = jax.jit(jax.vmap(one))(points)
    return latent, pointwise, generated, terms, values, jacobians


@cache
def _everything():
    try:
        return _evaluate([n for n in REFERENCES if n in DISTRIBUTIONS])
    except Exception:  # noqa: BLE001 - each distribution's tests then report their own error
        return None


@cache
def _alone(name):
    return _evaluate([name])


def evaluated(name: str):
    """All distributions in one evaluation (fast); if that fails, each distribution alone, so
    that only the broken entry's tests fail, each with its own error."""
    combined = _everything()
    return combined if combined is not None else _alone(name)


def _expected(name: str, points) -> np.ndarray:
    ref = REFERENCES[name]
    return np.asarray([ref.logpdf(*p) for p in points], dtype=float)


def _close(actual, expected, rtol):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), expected, rtol=rtol, atol=1e-10)


UNIVARIATE = [n for n in REFERENCES if n in DISTRIBUTIONS and _univariate(n)]
PROPER_UNIVARIATE = [n for n in UNIVARIATE if DISTRIBUTIONS[n].proper]
MULTIVARIATE = [n for n in REFERENCES if n in DISTRIBUTIONS and not _univariate(n)]
CONTINUOUS = [n for n in REFERENCES if n in DISTRIBUTIONS and not DISTRIBUTIONS[n].discrete]
WITH_OUTSIDE = [n for n in PROPER_UNIVARIATE if REFERENCES[n].outside]
# The improper flat densities are priors only (no data statement, no function form); they are
# checked as latents.
OBSERVABLE = [n for n in UNIVARIATE + MULTIVARIATE if DISTRIBUTIONS[n].proper]


# ------------------------------------------------------------------ coverage of the registry

def test_every_distribution_has_a_reference():
    """A new registry entry must come with a reference here (and a stale one must go)."""
    assert sorted(DISTRIBUTIONS) == sorted(REFERENCES)


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_argument_names_and_order_are_the_documented_ones(name):
    """The registry's argument names, in order, are the documented (Stan's) ones; the named
    argument tests below write the documented names, so a swap in either place fails."""
    assert DISTRIBUTIONS[name].params == tuple(REFERENCES[name].params.split())


def test_every_support_has_a_membership_check():
    assert {spec.support for spec in DISTRIBUTIONS.values()} <= set(SUPPORTS)


# The CDF forms are checked in tests/test_reference_cdfs.py, not here.
CDF_SUFFIXES = ("_cdf", "_lcdf", "_lccdf")


def test_density_functions_of_the_language_are_all_checked():
    """The language's log-density functions are exactly the ``_lpdf`` / ``_lpmf`` forms of the
    proper univariate families, all of which :func:`test_density_function` covers (the checker
    refuses the function form of a multivariate family)."""
    offered = {f"{name}{suffix}" for name in DISTRIBUTIONS
               for suffix in ("_lpdf", "_lpmf", *CDF_SUFFIXES)
               if density_spec(f"{name}{suffix}") is not None and _univariate(name)}
    offered |= {f for f in FUNCTIONS if f.endswith(CDF_SUFFIXES)}
    checked = {_density_function(n) for n in PROPER_UNIVARIATE}
    assert offered == checked


# ------------------------------------------------------------------ the densities

@pytest.mark.parametrize("name", OBSERVABLE)
def test_observed_log_density(name):
    """``y ~ name(args)`` with y data: the pointwise log-likelihood is the reference."""
    _check_pointwise(name, "y")


@pytest.mark.parametrize("name", OBSERVABLE)
def test_named_arguments_in_reverse_order(name):
    """Every argument given by its registry name, last first: the same density, so the names
    the docs show are bound to the right positions."""
    _check_pointwise(name, "n")


def _check_pointwise(name: str, prefix: str) -> None:
    """The pointwise log-likelihood of the statements ``{prefix}_{name}...`` against the
    reference at its points."""
    _, pointwise, *_ = evaluated(name)
    ref = REFERENCES[name]
    if name in UNIVARIATE:
        actual = pointwise[f"{prefix}_{name}"]
    else:
        actual = [pointwise[f"{prefix}_{name}_{i}"] for i in range(len(ref.points))]
    _close(actual, _expected(name, ref.points), ref.rtol)


@pytest.mark.parametrize("name", PROPER_UNIVARIATE)
def test_density_function(name):
    """``name_lpdf(y, args)`` (``_lpmf`` for a discrete family), element by element."""
    _, _, generated, *_ = evaluated(name)
    ref = REFERENCES[name]
    _close(generated[f"lp_{name}"], _expected(name, ref.points), ref.rtol)


@pytest.mark.parametrize("name", WITH_OUTSIDE)
def test_outside_the_support_is_minus_infinity(name):
    """A value outside the support has density zero: log density ``-inf``, both in the function
    form (evaluated on data) and for observed data. NumPyro, with validation off, returns a
    finite number for several families (exponential at -1: log(2) + 2)."""
    _, pointwise, generated, *_ = evaluated(name)
    n_out = len(REFERENCES[name].outside)
    assert np.shape(generated[f"lo_{name}"]) == (n_out,)
    assert np.all(np.asarray(generated[f"lo_{name}"]) == -np.inf)
    assert np.all(np.asarray(pointwise[f"o_{name}"]) == -np.inf)


def _free(value: np.ndarray, support: str) -> np.ndarray:
    """The free coordinates of a constrained value (the ones its Jacobian is taken over)."""
    if support == "simplex":
        return value[..., :-1]
    if support in ("corr_cholesky", "corr_matrix"):
        rows, cols = np.tril_indices(value.shape[-1], -1)
        return value[..., rows, cols]
    if support == "positive_definite":  # symmetric: the lower triangle with the diagonal
        rows, cols = np.tril_indices(value.shape[-1])
        return value[..., rows, cols]
    return value


@pytest.mark.parametrize("name", CONTINUOUS)
def test_latent_prior_with_its_transform(name):
    """``x ~ name(args)`` with x a parameter: the value lies in the registry's support and the
    statement's term is the reference density plus ``log |det J|`` of the map from the
    unconstrained block to the free coordinates of x (``jax.jacobian``, ``slogdet``)."""
    compiled, _, _, terms, values, jacobians = evaluated(name)
    ref = REFERENCES[name]
    spec = DISTRIBUTIONS[name]
    if name in UNIVARIATE:
        latents = [(f"x_{name}", [p[1:] for p in ref.points], True)]
    else:
        latents = [(f"x_{name}_{i}", [p[1:]], False) for i, p in enumerate(ref.points)]
    for var, args, elementwise in latents:
        block = next(b for b in compiled.blocks if b.name == var)
        cols = slice(block.offset, block.offset + block.size)
        for k in range(N_POINTS):
            value = np.asarray(values[var][k])
            # rows: the unconstrained coordinates of this block; columns: the free ones of x
            jac = _free(np.moveaxis(np.asarray(jacobians[var][k]), -1, 0)[cols], spec.support)
            log_jac = np.linalg.slogdet(jac.reshape(block.size, block.size))[1]
            if elementwise:
                for x, a in zip(value, args):
                    assert SUPPORTS[spec.support](x, *a), (var, x, a)
                density = sum(ref.logpdf(x, *a) for x, a in zip(value, args))
            else:
                assert SUPPORTS[spec.support](value, *args[0]), (var, value)
                density = np.sum(ref.logpdf(value, *args[0]))  # a GLM's: one per row
            np.testing.assert_allclose(float(terms[var][k]), density + log_jac, rtol=1e-9,
                                       atol=1e-9)


# ------------------------------------------------------------------ CDFs
# The CDFs (ppl/library/cdfs.py, used by the _lcdf / _lccdf / _cdf functions and by
# truncation) have their scipy references in tests/test_reference_cdfs.py.

