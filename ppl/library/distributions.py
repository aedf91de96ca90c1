"""Distribution registry: names and parameterisations of the language, mapped to NumPyro.

Names and argument orders follow Stan's conventions (``normal(mu, sigma)`` with a standard
deviation, ``gamma(alpha, beta)`` with a rate, ``inv_gamma(alpha, beta)`` with a scale, ...).
The registry is the single source of truth for the checker, the code generator and the docs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpyro.distributions as nd
from numpyro.distributions import constraints
from numpyro.distributions.util import promote_shapes, validate_sample

from ppl.library.functions import lbeta, lchoose, log_diff_exp


@dataclass(frozen=True)
class DistributionSpec:
    """One distribution of the language.

    ``param_ranks`` gives the rank each argument has per draw (0 for element-wise arguments that
    broadcast, 1 for a vector such as a simplex, 2 for a matrix). ``event_rank`` is the rank of one
    draw (0 scalar, 1 vector, 2 matrix). ``support`` names the support for docs and checks.
    """

    name: str
    params: tuple[str, ...]
    build: Callable[..., nd.Distribution]
    support: str
    doc: str
    discrete: bool = False
    event_rank: int = 0
    param_ranks: tuple[int, ...] = ()
    proper: bool = True
    one_based: bool = False  # values are 1..K in the language, 0..K-1 in NumPyro
    # A GLM form: the first argument is an N x K matrix whose N rows are the batch (one value
    # each); its scalar arguments are a scalar or a vector of N, the coefficients a vector of K.
    batch_rows: bool = False
    # The value's sum is a parameter (multinomial's N): known from observed counts, so the
    # family cannot be simulated without them (a generated draw or a left-out observation).
    total_from_value: bool = False

    def ranks(self) -> tuple[int, ...]:
        return self.param_ranks or (0,) * len(self.params)


class _Flat(nd.Distribution):
    """Improper uniform density (log-density 0) on a real or positive support."""

    arg_constraints: dict = {}

    def __init__(self, support, batch_shape=(), event_shape=()):
        self._support = support
        super().__init__(batch_shape, event_shape)

    @constraints.dependent_property(is_discrete=False)
    def support(self):
        return self._support

    def log_prob(self, value):
        return jnp.zeros(jnp.shape(value)[: jnp.ndim(value) - len(self.event_shape)])

    def sample(self, key, sample_shape=()):
        raise NotImplementedError("an improper flat prior cannot be sampled")


# Stan's densities on y >= 0 accept y = 0: exponential_lpdf(0 | lambda) = log(lambda), and data
# can hold exact zeros. NumPyro's support `positive` is open, and its support check (on by
# default) turns the finite density at 0 into -inf, so these families get the closed support.
# (lognormal and inv_gamma keep the open one: their density tends to 0 there, and their
# formulas give NaN at 0 where the check gives the right -inf.)

class _HalfNormal(nd.HalfNormal):
    support = constraints.nonnegative


class _HalfCauchy(nd.HalfCauchy):
    support = constraints.nonnegative


class _Exponential(nd.Exponential):
    support = constraints.nonnegative


def _gamma_log_prob(dist, value):
    """The gamma log density with ``(alpha - 1) log y`` as ``xlogy`` (Stan's multiply_log), so
    that alpha = 1 at y = 0 gives log(beta), not NumPyro's 0 * -inf = NaN."""
    alpha, beta = dist.concentration, dist.rate
    return (alpha * jnp.log(beta) - jsp.gammaln(alpha) + jsp.xlogy(alpha - 1.0, value)
            - beta * value)


class _Gamma(nd.Gamma):
    support = constraints.nonnegative

    @validate_sample
    def log_prob(self, value):
        return _gamma_log_prob(self, value)


class _Chi2(nd.Chi2):
    support = constraints.nonnegative

    @validate_sample
    def log_prob(self, value):
        return _gamma_log_prob(self, value)


class _Weibull(nd.Weibull):
    """Weibull closed at 0, with ``(alpha - 1) log y`` as ``xlogy`` (Stan's multiply_log) so
    that alpha = 1 at y = 0 gives the exponential density -log(sigma), not NaN."""

    support = constraints.nonnegative

    @validate_sample
    def log_prob(self, value):
        k, scale = self.concentration, self.scale
        return (jnp.log(k) - k * jnp.log(scale) + jsp.xlogy(k - 1.0, value)
                - jnp.power(value / scale, k))


class _HalfStudentT(nd.Distribution):
    """|t| for t ~ Student-t(nu, 0, sigma): twice the Student-t density on y >= 0.

    Written out rather than NumPyro's ``FoldedDistribution(StudentT)``, whose log_prob
    broadcasts a (2, 1) array against the values and so fails for a vector of values under
    strict rank promotion (the tests' setting)."""

    arg_constraints = {"df": constraints.positive, "scale": constraints.positive}
    support = constraints.nonnegative
    reparametrized_params = ["df", "scale"]
    pytree_data_fields = ("df", "scale")

    def __init__(self, df, scale, *, validate_args=None):
        self.df, self.scale = promote_shapes(df, scale)
        batch_shape = jax.lax.broadcast_shapes(jnp.shape(df), jnp.shape(scale))
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        shape = tuple(sample_shape) + self.batch_shape
        return jnp.abs(jax.random.t(key, self.df, shape) * self.scale)

    @validate_sample
    def log_prob(self, value):
        nu = self.df
        z = value / self.scale
        return (jnp.log(2.0) + jsp.gammaln(0.5 * (nu + 1.0)) - jsp.gammaln(0.5 * nu)
                - 0.5 * jnp.log(nu * jnp.pi) - jnp.log(self.scale)
                - 0.5 * (nu + 1.0) * jnp.log1p(jnp.square(z) / nu))



class _Pareto(nd.Pareto):
    """Pareto closed at y_min, as Stan's (the density alpha / y_min is finite there; NumPyro's
    support is open)."""

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.greater_than_eq(self.scale)

    @validate_sample
    def log_prob(self, value):
        """log(alpha) + alpha log(y_min) - (alpha + 1) log(y), written out: NumPyro's, an
        exponential of log(y / y_min), is -inf at y = y_min (its exponential's support is
        open)."""
        return (jnp.log(self.alpha) + self.alpha * jnp.log(self.scale)
                - (self.alpha + 1) * jnp.log(value))


class _BetaBinomial(nd.BetaBinomial):
    """NumPyro's beta-binomial with its log density through this library's lbeta and lchoose:
    NumPyro's uses jax.scipy's betaln, off by ~1e-7 (relative) at moderate arguments."""

    @validate_sample
    def log_prob(self, value):
        a, b, n = self.concentration1, self.concentration0, self.total_count
        return (lchoose(n, value) + lbeta(value + a, n - value + b) - lbeta(a, b))


class _VonMises(nd.VonMises):
    """Von Mises on the whole real line, as Stan's: the density is periodic, and NumPyro's own
    formula holds for every y (its support, the circle [-pi, pi], would make any other value
    impossible)."""

    support = constraints.real


class _Multinomial(nd.Distribution):
    """Stan's multinomial(theta): counts y over K categories, N = sum(y) trials (NumPyro's
    Multinomial needs N before it sees y). log N! - sum log y_k! + sum y_k log theta_k, with
    ``xlogy`` so that a zero count of a zero probability adds 0. Draws need ``total`` (N)."""

    arg_constraints = {"probs": constraints.simplex}
    support = constraints.independent(constraints.nonnegative_integer, 1)
    pytree_data_fields = ("probs", "total")

    def __init__(self, probs, total=None, *, validate_args=None):
        self.probs, self.total = probs, total
        shape = jnp.shape(probs)
        super().__init__(batch_shape=shape[:-1], event_shape=shape[-1:],
                         validate_args=validate_args)

    @validate_sample
    def log_prob(self, value):
        value = jnp.asarray(value, jnp.result_type(value, self.probs, 1.0))  # int counts
        n = jnp.sum(value, axis=-1)
        return (jsp.gammaln(n + 1.0) - jnp.sum(jsp.gammaln(value + 1.0), axis=-1)
                + jnp.sum(jsp.xlogy(value, self.probs), axis=-1))

    def sample(self, key, sample_shape=()):
        """Category by category, each a binomial of the trials left with its probability
        given the categories before it: N may be traced (NumPyro's draw needs a concrete
        maximum of N)."""
        shape = tuple(sample_shape) + self.batch_shape
        probs = jnp.broadcast_to(self.probs, shape + self.event_shape)
        left = jnp.broadcast_to(jnp.asarray(self.total, probs.dtype), shape)
        mass = jnp.ones(shape, probs.dtype)
        counts = []
        for k, sub in enumerate(jax.random.split(key, self.event_shape[0] - 1)):
            p = jnp.clip(probs[..., k] / jnp.maximum(mass, 1e-300), 0.0, 1.0)
            draw = jax.random.binomial(sub, left, p, shape=shape)
            counts.append(draw)
            left, mass = left - draw, mass - probs[..., k]
        return jnp.stack(counts + [left], axis=-1)


class _Located(nd.Distribution):
    """A scalar family of a few real parameters, broadcast together (the base of the families
    NumPyro lacks below)."""

    arg_constraints: dict = {}
    support = constraints.real
    pytree_data_fields = ("args",)

    def __init__(self, *args, validate_args=None):
        self.args = promote_shapes(*args)
        batch_shape = jax.lax.broadcast_shapes(*(jnp.shape(a) for a in args))
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)


class _SkewNormal(_Located):
    """Stan's skew_normal(xi, omega, alpha): 2 / omega phi(z) Phi(alpha z), z = (y - xi) /
    omega (NumPyro has no skew normal); Phi on the log scale (log_ndtr) for the far tail."""

    @validate_sample
    def log_prob(self, value):
        xi, omega, alpha = self.args
        z = (value - xi) / omega
        return (jnp.log(2.0) - jnp.log(omega) - 0.5 * jnp.log(2 * jnp.pi) - 0.5 * jnp.square(z)
                + jsp.log_ndtr(alpha * z))

    def sample(self, key, sample_shape=()):
        xi, omega, alpha = self.args
        shape = tuple(sample_shape) + self.batch_shape
        u, v = jax.random.normal(key, (2,) + shape)
        delta = alpha / jnp.sqrt(1 + jnp.square(alpha))
        return xi + omega * (delta * jnp.abs(u) + jnp.sqrt(1 - jnp.square(delta)) * v)


class _ExpModNormal(_Located):
    """Stan's exp_mod_normal(mu, sigma, lambda): a normal(mu, sigma) plus an independent
    exponential(lambda) (NumPyro has none). log(lambda) + lambda (mu + lambda sigma^2 / 2 - y)
    + log Phi((y - mu) / sigma - lambda sigma): Stan's erfc form, on the log scale."""

    @validate_sample
    def log_prob(self, value):
        mu, sigma, lam = self.args
        return (jnp.log(lam) + lam * (mu + 0.5 * lam * jnp.square(sigma) - value)
                + jsp.log_ndtr((value - mu) / sigma - lam * sigma))

    def sample(self, key, sample_shape=()):
        mu, sigma, lam = self.args
        shape = tuple(sample_shape) + self.batch_shape
        k1, k2 = jax.random.split(key)
        return mu + sigma * jax.random.normal(k1, shape) + jax.random.exponential(k2, shape) / lam


class _Frechet(_Located):
    """Stan's frechet(alpha, sigma), shape then scale: alpha / sigma (y / sigma)^(-1 - alpha)
    exp(-(y / sigma)^-alpha) for y > 0 (NumPyro has no Frechet)."""

    support = constraints.positive

    @validate_sample
    def log_prob(self, value):
        alpha, sigma = self.args
        log_z = jnp.log(value) - jnp.log(sigma)
        return jnp.log(alpha) - jnp.log(sigma) - (1 + alpha) * log_z - jnp.exp(-alpha * log_z)

    def sample(self, key, sample_shape=()):
        alpha, sigma = self.args
        shape = tuple(sample_shape) + self.batch_shape
        return sigma * jnp.power(jax.random.exponential(key, shape), -1.0 / alpha)


class _Rayleigh(_Located):
    """Stan's rayleigh(sigma): y / sigma^2 exp(-y^2 / (2 sigma^2)) for y > 0 (NumPyro has no
    Rayleigh); 0 at y = 0, so the log density is -inf there."""

    support = constraints.positive

    @validate_sample
    def log_prob(self, value):
        (sigma,) = self.args
        return jnp.log(value) - 2 * jnp.log(sigma) - 0.5 * jnp.square(value / sigma)

    def sample(self, key, sample_shape=()):
        (sigma,) = self.args
        shape = tuple(sample_shape) + self.batch_shape
        return sigma * jnp.sqrt(2 * jax.random.exponential(key, shape))


def _ordered_probit(eta, c):
    """Stan's ordered_probit: outcome k with probability Phi(eta - c[k - 1]) - Phi(eta - c[k])
    (c[0] = -inf, c[K] = +inf); NumPyro has no ordered probit. On the log scale: the end
    categories are log_ndtr(c[1] - eta) and log_ndtr(eta - c[K - 1]); a middle one is
    log_diff_exp of two log_ndtr, on the side of the smaller tail (Phi(-b') - Phi(-a') above
    the cutpoints), so the tails keep their digits. No infinite cutpoint is written: its
    infinite log_ndtr slope would make the gradient NaN."""
    real = jnp.result_type(eta, c, 1.0)  # int data (eta of an int array) as reals
    eta = jnp.asarray(eta, real)[..., None]
    c = jnp.asarray(c, real)
    lo, hi = c[..., :-1], c[..., 1:]
    below = log_diff_exp(jsp.log_ndtr(eta - lo), jsp.log_ndtr(eta - hi))
    above = log_diff_exp(jsp.log_ndtr(hi - eta), jsp.log_ndtr(lo - eta))
    middle = jnp.where(eta > 0.5 * (lo + hi), above, below)
    first = jsp.log_ndtr(c[..., :1] - eta)
    last = jsp.log_ndtr(eta - c[..., -1:])
    shape = jnp.broadcast_shapes(first.shape[:-1], middle.shape[:-1])
    parts = [jnp.broadcast_to(p, shape + p.shape[-1:]) for p in (first, middle, last)]
    return nd.CategoricalLogits(jnp.concatenate(parts, axis=-1))


def _multi_student_t(nu, mu, sigma):
    return nd.MultivariateStudentT(nu, mu, jnp.linalg.cholesky(sigma))


def _neg_binomial_2_log(eta, phi):
    """Mean exp(eta): a gamma(phi, phi e^-eta) mixture of Poissons (NumPyro's
    NegativeBinomial2 with the rate phi / mu written without exp(eta) overflowing)."""
    return nd.GammaPoisson(phi, phi * jnp.exp(-eta))


def _half_student_t(nu, sigma):
    return _HalfStudentT(nu, sigma)


def _lkj(eta, dimension):
    return nd.LKJCholesky(dimension, eta)


def _lkj_corr(eta, dimension):
    return nd.LKJ(dimension, eta)


def _linear(x, alpha, beta):
    """The linear predictor alpha + x beta of a GLM form (alpha a scalar or one per row)."""
    real = jnp.result_type(x, alpha, beta, 1.0)  # int data as reals
    return jnp.asarray(alpha, real) + jnp.asarray(x, real) @ jnp.asarray(beta, real)


def _bernoulli_logit_glm(x, alpha, beta):
    return nd.BernoulliLogits(_linear(x, alpha, beta))


def _poisson_log_glm(x, alpha, beta):
    return nd.Poisson(jnp.exp(_linear(x, alpha, beta)))


def _normal_id_glm(x, alpha, beta, sigma):
    mu = _linear(x, alpha, beta)
    return nd.Normal(mu, jnp.broadcast_to(sigma, jnp.shape(mu)))


_SPECS = [
    DistributionSpec("normal", ("mu", "sigma"), nd.Normal, "real",
                     "Normal with mean mu and standard deviation sigma."),
    DistributionSpec("half_normal", ("sigma",), _HalfNormal, "positive",
                     "Normal(0, sigma) restricted to positive values."),
    DistributionSpec("student_t", ("nu", "mu", "sigma"), nd.StudentT, "real",
                     "Student-t with nu degrees of freedom, location mu, scale sigma."),
    DistributionSpec("half_student_t", ("nu", "sigma"), _half_student_t, "positive",
                     "Student-t(nu, 0, sigma) restricted to positive values."),
    DistributionSpec("cauchy", ("mu", "sigma"), nd.Cauchy, "real",
                     "Cauchy with location mu and scale sigma."),
    DistributionSpec("half_cauchy", ("sigma",), _HalfCauchy, "positive",
                     "Cauchy(0, sigma) restricted to positive values."),
    DistributionSpec("exponential", ("lambda",), _Exponential, "positive",
                     "Exponential with rate lambda (mean 1 / lambda)."),
    DistributionSpec("gamma", ("alpha", "beta"), _Gamma, "positive",
                     "Gamma with shape alpha and rate beta (mean alpha / beta)."),
    DistributionSpec("inv_gamma", ("alpha", "beta"), nd.InverseGamma, "positive",
                     "Inverse gamma with shape alpha and scale beta."),
    DistributionSpec("lognormal", ("mu", "sigma"), nd.LogNormal, "positive",
                     "log(x) is normal with mean mu and standard deviation sigma."),
    DistributionSpec("beta", ("alpha", "beta"), nd.Beta, "unit_interval",
                     "Beta with density proportional to x^(alpha-1) (1-x)^(beta-1)."),
    DistributionSpec("uniform", ("alpha", "beta"), nd.Uniform, "interval",
                     "Uniform on the interval (alpha, beta)."),
    DistributionSpec("laplace", ("mu", "sigma"), nd.Laplace, "real",
                     "Laplace (double exponential) with location mu and scale sigma."),
    DistributionSpec("logistic", ("mu", "sigma"), nd.Logistic, "real",
                     "Logistic with location mu and scale sigma."),
    DistributionSpec("weibull", ("alpha", "sigma"), lambda a, s: _Weibull(s, a), "positive",
                     "Weibull with shape alpha and scale sigma."),
    DistributionSpec("chi_square", ("nu",), _Chi2, "positive",
                     "Chi-square with nu degrees of freedom."),
    DistributionSpec("bernoulli", ("theta",), lambda p: nd.BernoulliProbs(p), "binary",
                     "1 with probability theta, else 0.", discrete=True),
    DistributionSpec("bernoulli_logit", ("alpha",), lambda a: nd.BernoulliLogits(a), "binary",
                     "Bernoulli with probability inv_logit(alpha).", discrete=True),
    DistributionSpec("binomial", ("N", "theta"), lambda n, p: nd.BinomialProbs(p, n),
                     "bounded_integer", "Successes in N trials of probability theta.",
                     discrete=True),
    DistributionSpec("binomial_logit", ("N", "alpha"), lambda n, a: nd.BinomialLogits(a, n),
                     "bounded_integer", "Binomial with probability inv_logit(alpha).",
                     discrete=True),
    DistributionSpec("poisson", ("lambda",), nd.Poisson, "nonnegative_integer",
                     "Poisson with rate lambda.", discrete=True),
    DistributionSpec("poisson_log", ("alpha",), lambda a: nd.Poisson(jnp.exp(a)),
                     "nonnegative_integer", "Poisson with log rate alpha.", discrete=True),
    DistributionSpec("neg_binomial_2", ("mu", "phi"), nd.NegativeBinomial2,
                     "nonnegative_integer",
                     "Negative binomial with mean mu and variance mu + mu^2 / phi.",
                     discrete=True),
    DistributionSpec("categorical", ("theta",), lambda p: nd.CategoricalProbs(p),
                     "category", "Outcome k in 1..K with probability theta[k] (a simplex).",
                     discrete=True, param_ranks=(1,), one_based=True),
    DistributionSpec("dirichlet", ("alpha",), nd.Dirichlet, "simplex",
                     "Dirichlet on the simplex with concentrations alpha.",
                     event_rank=1, param_ranks=(1,)),
    DistributionSpec("multi_normal", ("mu", "Sigma"),
                     lambda m, s: nd.MultivariateNormal(m, covariance_matrix=s), "real",
                     "Multivariate normal with mean vector mu and covariance matrix Sigma.",
                     event_rank=1, param_ranks=(1, 2)),
    DistributionSpec("multi_normal_prec", ("mu", "Omega"),
                     lambda m, p: nd.MultivariateNormal(m, precision_matrix=p), "real",
                     "Multivariate normal with mean vector mu and precision matrix Omega "
                     "(the inverse covariance).", event_rank=1, param_ranks=(1, 2)),
    DistributionSpec("multi_normal_cholesky", ("mu", "L"),
                     lambda m, chol: nd.MultivariateNormal(m, scale_tril=chol), "real",
                     "Multivariate normal with mean mu and covariance L L' (L lower-triangular "
                     "Cholesky factor).", event_rank=1, param_ranks=(1, 2)),
    DistributionSpec("lkj_corr_cholesky", ("eta",), _lkj, "corr_cholesky",
                     "LKJ prior on the Cholesky factor of a K x K correlation matrix; "
                     "K comes from the declared type matrix[K, K].",
                     event_rank=2),
    DistributionSpec("std_normal", (), lambda: nd.Normal(0.0, 1.0), "real",
                     "The standard normal: normal(0, 1)."),
    DistributionSpec("double_exponential", ("mu", "sigma"), nd.Laplace, "real",
                     "Stan's name for laplace: location mu, scale sigma."),
    DistributionSpec("gumbel", ("mu", "beta"), nd.Gumbel, "real",
                     "Gumbel (type I extreme value) with location mu and scale beta."),
    DistributionSpec("skew_normal", ("xi", "omega", "alpha"), _SkewNormal, "real",
                     "Skew normal with location xi, scale omega and shape alpha."),
    DistributionSpec("exp_mod_normal", ("mu", "sigma", "lambda"), _ExpModNormal, "real",
                     "A normal(mu, sigma) plus an exponential of rate lambda."),
    DistributionSpec("von_mises", ("mu", "kappa"), _VonMises, "real",
                     "Von Mises with location mu and concentration kappa (periodic in y)."),
    DistributionSpec("pareto", ("y_min", "alpha"), _Pareto, "lower_bounded",
                     "Pareto with minimum y_min and shape alpha."),
    DistributionSpec("frechet", ("alpha", "sigma"), _Frechet, "positive",
                     "Frechet with shape alpha and scale sigma."),
    DistributionSpec("rayleigh", ("sigma",), _Rayleigh, "positive",
                     "Rayleigh with scale sigma."),
    DistributionSpec("inv_chi_square", ("nu",),
                     lambda nu: nd.InverseGamma(0.5 * nu, 0.5), "positive",
                     "Inverse chi-square with nu degrees of freedom."),
    DistributionSpec("scaled_inv_chi_square", ("nu", "s"),
                     lambda nu, s: nd.InverseGamma(0.5 * nu, 0.5 * nu * jnp.square(s)),
                     "positive", "Scaled inverse chi-square with nu degrees of freedom and "
                     "scale s."),
    DistributionSpec("beta_proportion", ("mu", "kappa"),
                     lambda mu, kappa: nd.Beta(mu * kappa, (1 - mu) * kappa), "unit_interval",
                     "Beta with mean mu and precision kappa: beta(mu kappa, (1 - mu) kappa)."),
    DistributionSpec("beta_binomial", ("N", "alpha", "beta"),
                     lambda n, a, b: _BetaBinomial(a, b, n), "bounded_integer",
                     "Binomial in N trials whose probability is beta(alpha, beta).",
                     discrete=True),
    DistributionSpec("neg_binomial", ("alpha", "beta"), nd.GammaPoisson,
                     "nonnegative_integer",
                     "Negative binomial with shape alpha and inverse scale beta (mean "
                     "alpha / beta): Poisson with a gamma(alpha, beta) rate.", discrete=True),
    DistributionSpec("neg_binomial_2_log", ("eta", "phi"), _neg_binomial_2_log,
                     "nonnegative_integer",
                     "neg_binomial_2 with log mean eta and precision phi.", discrete=True),
    DistributionSpec("categorical_logit", ("beta",), lambda b: nd.CategoricalLogits(b),
                     "category", "Outcome k in 1..K with probability softmax(beta)[k].",
                     discrete=True, param_ranks=(1,), one_based=True),
    DistributionSpec("ordered_logistic", ("eta", "c"), nd.OrderedLogistic, "ordinal",
                     "Outcome k in 1..K: inv_logit(eta - c[k - 1]) - inv_logit(eta - c[k]) "
                     "for the increasing cutpoints c (K - 1 of them).",
                     discrete=True, param_ranks=(0, 1), one_based=True),
    DistributionSpec("ordered_probit", ("eta", "c"), _ordered_probit, "ordinal",
                     "Outcome k in 1..K: Phi(eta - c[k - 1]) - Phi(eta - c[k]) for the "
                     "increasing cutpoints c (K - 1 of them).",
                     discrete=True, param_ranks=(0, 1), one_based=True),
    DistributionSpec("multi_student_t", ("nu", "mu", "Sigma"), _multi_student_t, "real",
                     "Multivariate Student-t with nu degrees of freedom, location mu and scale "
                     "matrix Sigma.", event_rank=1, param_ranks=(0, 1, 2)),
    DistributionSpec("lkj_corr", ("eta",), _lkj_corr, "corr_matrix",
                     "LKJ prior on a K x K correlation matrix, density proportional to "
                     "det(Omega)^(eta - 1); K comes from the declared type matrix[K, K].",
                     event_rank=2),
    DistributionSpec("wishart", ("nu", "Sigma"),
                     lambda nu, s: nd.Wishart(nu, scale_matrix=s), "positive_definite",
                     "Wishart with nu degrees of freedom and scale matrix Sigma (mean nu Sigma): "
                     "a distribution of covariance matrices.",
                     event_rank=2, param_ranks=(0, 2)),
    DistributionSpec("inv_wishart", ("nu", "Sigma"),
                     lambda nu, s: nd.InverseWishart(nu, scale_matrix=s), "positive_definite",
                     "Inverse Wishart with nu degrees of freedom and scale matrix Sigma (mean "
                     "Sigma / (nu - K - 1)): a distribution of covariance matrices.",
                     event_rank=2, param_ranks=(0, 2)),
    DistributionSpec("bernoulli_logit_glm", ("x", "alpha", "beta"), _bernoulli_logit_glm,
                     "binary", "bernoulli_logit(alpha + x * beta) for each row of the N x K "
                     "matrix x: alpha a scalar or a vector of N, beta a vector of K; the value "
                     "has N elements.", discrete=True, param_ranks=(2, 0, 1), batch_rows=True),
    DistributionSpec("poisson_log_glm", ("x", "alpha", "beta"), _poisson_log_glm,
                     "nonnegative_integer", "poisson_log(alpha + x * beta) for each row of "
                     "the N x K matrix x: alpha a scalar or a vector of N, beta a vector of K; "
                     "the value has N elements.", discrete=True, param_ranks=(2, 0, 1),
                     batch_rows=True),
    DistributionSpec("normal_id_glm", ("x", "alpha", "beta", "sigma"), _normal_id_glm, "real",
                     "normal(alpha + x * beta, sigma) for each row of the N x K matrix x: "
                     "alpha and sigma scalars or vectors of N, beta a vector of K; the value "
                     "has N elements.", param_ranks=(2, 0, 1, 0), batch_rows=True),
    DistributionSpec("multinomial", ("theta",), _Multinomial, "counts",
                     "Counts over K categories of N = sum(y) independent trials, each in "
                     "category k with probability theta[k] (a simplex); N comes from the "
                     "observed counts.", discrete=True, event_rank=1, param_ranks=(1,),
                     total_from_value=True),
    DistributionSpec("flat", (), lambda: _Flat(constraints.real), "real",
                     "Improper flat density on the real line (log-density 0).", proper=False),
    DistributionSpec("half_flat", (), lambda: _Flat(constraints.positive), "positive",
                     "Improper flat density on the positive reals.", proper=False),
]

DISTRIBUTIONS: dict[str, DistributionSpec] = {spec.name: spec for spec in _SPECS}


def density_spec(func: str) -> DistributionSpec | None:
    """The distribution of a log-density function such as ``normal_lpdf`` or ``poisson_lpmf``."""
    for suffix, discrete in (("_lpdf", False), ("_lpmf", True)):
        if func.endswith(suffix):
            spec = DISTRIBUTIONS.get(func[: -len(suffix)])
            if spec is not None and spec.discrete == discrete and spec.proper:
                return spec
    return None


def build_distribution(spec: DistributionSpec, args: list, variate_shape: tuple[int, ...],
                       total=None):
    """The NumPyro distribution for ``spec`` with evaluated ``args``, shaped like the variate;
    ``total``: the sum of the observed value, for a family whose N it is (multinomial)."""
    if spec.total_from_value:
        return spec.build(*args, total)
    if spec.name == "lkj_corr_cholesky":
        return _lkj(args[0], variate_shape[-1])
    if spec.name == "lkj_corr":
        return _lkj_corr(args[0], variate_shape[-1])
    if not spec.proper:
        base = spec.build()
        return _Flat(base.support, batch_shape=tuple(variate_shape))
    return spec.build(*args)
