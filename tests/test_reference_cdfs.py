"""The CDF functions of the language (``normal_lcdf``, ``normal_lccdf``, ``normal_cdf``, ...)
against scipy.stats (``logcdf``, ``logsf``, ``cdf``), far into both tails, through the
language itself, with finite gradients; every family with CDFs has a reference here."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import ppl
from ppl.library.cdfs import FORMS, betainc, cdf_function_names, log_cdfs


class _Angle:
    """Stan's von Mises CDFs from scipy's: P(-pi <= Y <= y) for the angle Y in [-pi, pi] is
    scipy's cumulative integral (from mu - pi) at y minus its value at -pi."""

    def __init__(self, mu, kappa):
        self.ref = stats.vonmises(kappa, loc=mu)
        self.dist = self.ref.dist

    def cdf(self, y):
        return self.ref.cdf(y) - self.ref.cdf(-np.pi)

    def sf(self, y):
        return self.ref.cdf(np.pi) - self.ref.cdf(y)

    def logcdf(self, y):
        return np.log(self.cdf(y))

    def logsf(self, y):
        return np.log(self.sf(y))


# name -> (scipy distribution in Stan's parameterisation, the language's arguments, values
# from the far lower tail to the far upper tail)
REFERENCES = {
    "normal": (stats.norm(0.5, 2), (0.5, 2.0), [-80, -5, 0, 3, 60]),
    "std_normal": (stats.norm(), (), [-38, -1, 0, 2, 38]),
    "student_t": (stats.t(3, 0.5, 2), (3.0, 0.5, 2.0), [-1e6, -5, 0.5, 3, 1e6]),
    "half_student_t": (stats.halfcauchy(0, 2), (1.0, 2.0), [1e-8, 0.5, 3, 1e8]),
    "cauchy": (stats.cauchy(1, 2), (1.0, 2.0), [-1e12, -3, 1, 5, 1e12]),
    "half_cauchy": (stats.halfcauchy(0, 2), (2.0,), [1e-10, 1, 1e10]),
    "half_normal": (stats.halfnorm(0, 2), (2.0,), [1e-10, 0.5, 2.0, 3.0, 60]),
    "exponential": (stats.expon(0, 0.5), (2.0,), [1e-12, 0.5, 300]),
    "gamma": (stats.gamma(2.5, 0, 0.5), (2.5, 2.0), [1e-10, 1, 100]),
    "inv_gamma": (stats.invgamma(2.5, 0, 3), (2.5, 3.0), [1e-2, 1, 1e10]),
    "lognormal": (stats.lognorm(2, 0, np.exp(0.5)), (0.5, 2.0), [1e-30, 1, 1e30]),
    "beta": (stats.beta(2, 3), (2.0, 3.0), [1e-10, 0.3, 1 - 1e-9]),
    "beta_proportion": (stats.beta(0.8, 3.2), (0.2, 4.0), [1e-10, 0.3, 1 - 1e-9]),
    "uniform": (stats.uniform(-1, 3), (-1.0, 2.0), [-0.999, 0.5, 1.999]),
    "laplace": (stats.laplace(1, 2), (1.0, 2.0), [-1000, 0, 1, 3, 1000]),
    "double_exponential": (stats.laplace(1, 2), (1.0, 2.0), [-1000, 0, 3, 1000]),
    "logistic": (stats.logistic(1, 2), (1.0, 2.0), [-1000, 0, 3, 1000]),
    "weibull": (stats.weibull_min(1.5, 0, 2), (1.5, 2.0), [1e-10, 1, 30]),
    "chi_square": (stats.chi2(3), (3.0,), [1e-8, 2, 300]),
    "inv_chi_square": (stats.invgamma(1.5, 0, 0.5), (3.0,), [0.01, 1, 1e6]),
    "scaled_inv_chi_square": (stats.invgamma(1.5, 0, 6), (3.0, 2.0), [0.01, 1, 1e6]),
    "gumbel": (stats.gumbel_r(1, 2), (1.0, 2.0), [-8, 0, 3, 500]),
    "frechet": (stats.invweibull(2, 0, 1.5), (2.0, 1.5), [0.1, 1, 1e8]),
    "rayleigh": (stats.rayleigh(0, 1.5), (1.5,), [1e-8, 1, 40]),
    "pareto": (stats.pareto(3, 0, 1.5), (1.5, 3.0), [1.6, 2, 1e50]),
    "exp_mod_normal": (stats.exponnorm(0.5, 0, 1), (0.0, 1.0, 2.0), [-30, -1, 0, 2, 15]),
    # skew_normal: scipy in the bulk only (its tails are checked below against quadrature)
    "skew_normal": (stats.skewnorm(-2.5, 0.5, 2), (0.5, 2.0, -2.5), [-6, -1, 0.5, 2, 4]),
    "von_mises": (_Angle(0.4, 3.0), (0.4, 3.0), [-3.1, -2, 0, 0.4, 2.5, 3.1]),
    "bernoulli": (stats.bernoulli(0.3), (0.3,), [0, 1]),
    "beta_binomial": (stats.betabinom(12, 2.5, 0.7), (12, 2.5, 0.7), [0, 3, 8, 11]),
    "binomial": (stats.binom(10, 0.3), (10, 0.3), [0, 3, 9]),
    "poisson": (stats.poisson(3.5), (3.5,), [0, 2, 5, 40]),
    "poisson_log": (stats.poisson(np.exp(1.2)), (1.2,), [0, 2, 5, 40]),
    "neg_binomial": (stats.nbinom(2.0, 1.5 / 2.5), (2.0, 1.5), [0, 3, 150]),
    "neg_binomial_2": (stats.nbinom(2.0, 2.0 / 5.0), (3.0, 2.0), [0, 3, 150]),
    "neg_binomial_2_log": (stats.nbinom(2.0, 2.0 / (2.0 + np.exp(1.1))), (1.1, 2.0),
                           [0, 3, 150]),
}


def test_every_family_with_cdfs_has_a_reference():
    assert sorted(FORMS) == sorted(REFERENCES)
    assert len(cdf_function_names()) == 3 * len(FORMS)


def _language_values(name: str):
    """``name_lcdf``, ``name_lccdf`` and ``name_cdf`` of the reference values, evaluated by a
    model (data in, generated quantities out)."""
    ref, args, ys = REFERENCES[name]
    discrete = ref.dist.name in ("bernoulli", "binom", "poisson", "nbinom", "betabinom")
    kind = "int" if discrete else "real"
    arglist = "".join(f", {a!r}" for a in args)
    source = f"data N: int >= 1\ndata y: {kind}[N]\n" + "".join(
        f"generated {form} = {name}_{form}(y{arglist})\n" for form in ("lcdf", "lccdf", "cdf"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = ppl.model(source).compile({"N": len(ys), "y": ys})
    out = compiled.generated(jnp.zeros(compiled.dimension), jax.random.PRNGKey(0))
    return {form: np.asarray(out[form]) for form in ("lcdf", "lccdf", "cdf")}, ref, ys


def _close(actual, expected, rtol):
    """Relative agreement, where scipy's value is not itself lost to rounding (a value of
    -1e-300 written as 0, or an underflowed -inf: ours is then finite and smaller)."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    usable = np.isfinite(expected) & (expected != 0)
    np.testing.assert_allclose(actual[usable], expected[usable], rtol=rtol)
    for a, e in zip(actual[~usable], expected[~usable]):
        assert a == e or (e == 0 and -1e-15 < a <= 0) or (e == -np.inf and a < -500), (a, e)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_cdfs_match_scipy_in_both_tails(name):
    values, ref, ys = _language_values(name)
    ys = np.asarray(ys, float)
    _close(values["lcdf"], ref.logcdf(ys), 1e-8)
    _close(values["lccdf"], ref.logsf(ys), 1e-8)
    np.testing.assert_allclose(values["cdf"], ref.cdf(ys), rtol=1e-8, atol=1e-300)


def test_the_far_tails_keep_their_digits():
    """log_ndtr, not log(cdf): normal_lcdf at -40 is -804.6, not log(0) = -inf; the CCDF at
    +40 likewise; and the CDF next to 1 keeps the tiny difference (-1e-100, not 0)."""
    lcdf, lccdf = log_cdfs("normal", jnp.array([-40.0, 40.0]), (0.0, 1.0))
    np.testing.assert_allclose(np.asarray(lcdf)[0], stats.norm.logcdf(-40.0), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(lccdf)[1], stats.norm.logsf(40.0), rtol=1e-12)
    assert -1e-300 < float(np.asarray(lcdf)[1]) < 0 or float(np.asarray(lcdf)[1]) == 0
    lcdf, _ = log_cdfs("normal", jnp.array(21.0), (0.0, 1.0))
    # -3.3e-98, to 1e-8: log_ndtr(-21) = -224.6 is itself good to ~1e-11 (absolute 2e-9)
    np.testing.assert_allclose(float(lcdf), stats.norm.logcdf(21.0), rtol=1e-8)
    assert float(lcdf) < 0


def _differentiable(name: str) -> list[int]:
    """The argument positions to differentiate the CDFs in (all but a binomial's N)."""
    from ppl.library.distributions import DISTRIBUTIONS

    spec = DISTRIBUTIONS[name]
    return [i for i, p in enumerate(spec.params) if not (spec.discrete and p == "N")]


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_gradients_are_finite(name):
    """The gradients of both log CDFs in the value (continuous families) and every argument
    are finite at every reference value, tails included."""
    ref, args, ys = REFERENCES[name]
    positions = _differentiable(name)
    discrete = name in ("bernoulli", "binomial", "poisson", "poisson_log", "neg_binomial",
                        "neg_binomial_2", "neg_binomial_2_log", "beta_binomial")
    for y in ys:
        for which in (0, 1):
            def f(y, *a, which=which):
                return log_cdfs(name, y, tuple(a))[which]

            argnums = tuple(1 + i for i in positions) + (() if discrete else (0,))
            if not argnums:
                continue
            grads = jax.grad(f, argnums=argnums)(float(y), *(float(a) for a in args))
            assert np.all(np.isfinite(np.asarray(grads))), (name, y, which, grads)


def test_broadcasting_is_elementwise():
    """Vector values with scalar and vector arguments, as the _lpdf functions."""
    source = """
data y: vector[3]
data mu: vector[3]
generated a = normal_lcdf(y, mu, 2)
generated b = normal_lccdf(1.5, mu, 2)
"""
    y, mu = [0.0, 1.0, 2.0], [0.5, -1.0, 3.0]
    compiled = ppl.model(source).compile({"y": y, "mu": mu})
    out = compiled.generated(jnp.zeros(0), jax.random.PRNGKey(0))
    np.testing.assert_allclose(out["a"], stats.norm.logcdf(y, mu, 2), rtol=1e-12)
    np.testing.assert_allclose(out["b"], stats.norm.logsf(1.5, mu, 2), rtol=1e-12)


def test_cdf_argument_counts_are_checked():
    with pytest.raises(ppl.PPLError, match=r"normal_lcdf\(\) takes 3 plain arguments"):
        ppl.model("data y: real\ntarget += normal_lcdf(y, 0)")


@pytest.mark.parametrize("a, b, x", [(2.0, 3.0, 0.3), (0.5, 1.5, 0.01), (30.0, 2.0, 0.9),
                                     (1.5, 0.5, 0.25)])
def test_betainc_derivatives_in_all_arguments(a, b, x):
    """JAX's betainc has no derivative in a and b; the library's matches scipy's central
    differences in all three arguments."""
    from scipy import special

    grads = jax.grad(betainc, argnums=(0, 1, 2))(a, b, x)
    h = 1e-6
    expected = [(special.betainc(a + h, b, x) - special.betainc(a - h, b, x)) / (2 * h),
                (special.betainc(a, b + h, x) - special.betainc(a, b - h, x)) / (2 * h),
                (special.betainc(a, b, x + h) - special.betainc(a, b, x - h)) / (2 * h)]
    np.testing.assert_allclose(np.asarray(grads), expected, rtol=1e-6)


def test_a_student_t_truncation_with_nu_a_parameter_has_the_right_gradient():
    """d/d nu of student_t_lcdf(-3, nu, 0, 1) against scipy's central difference."""
    grad = jax.grad(lambda nu: log_cdfs("student_t", -3.0, (nu, 0.0, 1.0))[0])(4.0)
    h = 1e-6
    expected = (stats.t.logcdf(-3, 4 + h) - stats.t.logcdf(-3, 4 - h)) / (2 * h)
    assert float(grad) == pytest.approx(expected, rel=1e-6)


def _skew_normal_reference(z: float, alpha: float) -> float:
    """log F(z) of the standard skew normal by adaptive quadrature of its density, 2 phi(t)
    Phi(alpha t), scaled by the density's largest value on (-inf, z] (so nothing underflows),
    in pieces that follow its decay from z: an independent reference where scipy's skewnorm
    (Owen's T, subtracted from Phi) returns 0 or noise."""
    from scipy import integrate, special

    def log_density(t):
        return stats.norm.logpdf(t) + special.log_ndtr(alpha * t)

    scale = log_density(np.linspace(z - 40, z, 20001)).max()
    slope = abs(log_density(z) - log_density(z - 1e-7)) / 1e-7 + 1
    cuts = sorted({z - k / slope for k in (1, 3, 10, 40)} | {z - k for k in (1, 3, 10)})
    edges = [-np.inf, *(c for c in cuts if c < z), z]
    total = sum(integrate.quad(lambda t: np.exp(log_density(t) - scale), lo, hi, epsabs=0,
                               epsrel=1e-13, limit=500)[0]
                for lo, hi in zip(edges[:-1], edges[1:], strict=True))
    return np.log(2) + scale + np.log(total)


def test_skew_normal_cdfs_keep_their_digits_in_both_tails():
    """Every region of the skew normal's forms, far into both tails (CDFs down to e^-10^6),
    against quadrature to 1e-10, wherever the value lies in its own tail (below log 1/2: the
    other side is then log(1 - e^this), as for every family); the CCDF is the CDF of the
    mirror image, -y with -alpha, checked through its own entry point."""
    alphas = np.array([-40.0, -3.0, -1.0, -0.2, 0.0, 0.5, 1.0, 1.7, 8.0, 300.0])
    zs = np.array([-60.0, -25.0, -6.0, -1.5, -0.2, 0.0, 0.3, 2.0, 9.0, 40.0])
    z, alpha = (a.ravel() for a in np.meshgrid(zs, alphas))
    lcdf, lccdf = (np.asarray(v) for v in log_cdfs("skew_normal", jnp.array(z),
                                                    (0.0, 1.0, jnp.array(alpha))))
    assert np.isfinite(lcdf).all() and np.isfinite(lccdf).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quad's roundoff notes where it meets 1e-13
        for values, sign in ((lcdf, 1.0), (lccdf, -1.0)):
            for i in np.flatnonzero(values < np.log(0.5)):
                expected = _skew_normal_reference(sign * z[i], sign * alpha[i])
                assert values[i] == pytest.approx(expected, rel=1e-10), (z[i], alpha[i], sign)


def test_the_skew_normal_lower_tail_is_where_scipy_fails():
    """At z = -30 with alpha = 4 the CDF is about e^-7664: Phi(z) - 2 T(z, alpha) in floating
    point (scipy's) is 0, the language's is the quadrature's value."""
    lcdf, _ = log_cdfs("skew_normal", -30.0, (0.0, 1.0, 4.0))
    assert stats.skewnorm.cdf(-30.0, 4.0) == 0.0
    assert float(lcdf) == pytest.approx(_skew_normal_reference(-30.0, 4.0), rel=1e-10)


def test_von_mises_cdfs_are_those_of_the_angle_in_minus_pi_to_pi():
    """0 below -pi, 1 above pi, at every location (the mass of T[-pi, pi] is 1); kappa from
    the series into the normal approximation (kappa >= 50), against scipy."""
    ys = np.array([-4.0, -3.0, -1.0, 0.5, 2.9, 4.0])
    for mu in (0.0, 2.5, -3.0, 7.0):
        for kappa in (0.05, 1.0, 20.0, 49.0, 80.0):
            lcdf, lccdf = log_cdfs("von_mises", jnp.array(ys), (mu, kappa))
            ref = _Angle(mu, kappa)
            inner = np.clip(ys, -np.pi, np.pi)
            np.testing.assert_allclose(np.exp(np.asarray(lcdf)), ref.cdf(inner), atol=1e-11)
            np.testing.assert_allclose(np.exp(np.asarray(lccdf)), ref.sf(inner), atol=1e-11)
            assert float(lcdf[0]) == -np.inf and float(lccdf[-1]) == -np.inf


def test_beta_binomial_cdfs_with_a_traced_number_of_trials():
    """N a traced value (jit argument): the sum runs in a while loop as long as the shorter
    side of y; reverse-mode gradients in alpha and beta through its JVP, against scipy's
    central differences."""
    f = jax.jit(lambda n, a, b: log_cdfs("beta_binomial", jnp.array([2.0, 30.0]), (n, a, b)))
    lcdf, lccdf = f(40.0, 2.0, 3.0)
    ref = stats.betabinom(40, 2.0, 3.0)
    np.testing.assert_allclose(np.asarray(lcdf), ref.logcdf([2, 30]), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(lccdf), ref.logsf([2, 30]), rtol=1e-10)
    grads = jax.jit(jax.grad(lambda a, b: f(40.0, a, b)[1][1], argnums=(0, 1)))(2.0, 3.0)
    h = 1e-6
    expected = [(stats.betabinom(40, 2 + h, 3).logsf(30) - stats.betabinom(40, 2 - h, 3).logsf(30))
                / (2 * h),
                (stats.betabinom(40, 2, 3 + h).logsf(30) - stats.betabinom(40, 2, 3 - h).logsf(30))
                / (2 * h)]
    np.testing.assert_allclose(np.asarray(grads), expected, rtol=1e-6)
