"""Programmable variational inference (the ``vi`` backend, guides in the language).

Each gradient estimator is checked for unbiasedness against the exact gradient of a bound
with a closed form (normal-normal, gamma-Poisson, beta-binomial, Dirichlet-categorical) or one
computed by quadrature (a mixture guide): the mean of many seeded estimates must lie within
4.5 Monte Carlo standard errors of it, component by component. Fits are checked against exact
posteriors, and a structured guide against a mean-field one on eight schools.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import betaln, digamma, gammaln
from model_text import NORMAL_MEAN_MODEL, NORMAL_POSTERIOR_MEAN, NORMAL_POSTERIOR_SD, NORMAL_Y

import ppl
from ppl.backends.vi import estimator_plan
from ppl.backends.vi_objectives import make_loss
from ppl.codegen.guide import compile_guide
from ppl.jax_settings import in_ppl_settings

ROOT = Path(__file__).resolve().parents[1]
NORMAL_DATA = {"N": len(NORMAL_Y), "y": NORMAL_Y}
LOG_2PI = math.log(2 * math.pi)
Z = 4.5  # tolerance in Monte Carlo standard errors, per component

NORMAL_GUIDE = """
param m: real
param log_s: real
mu ~ normal(m, exp(log_s))
"""


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


@in_ppl_settings
def _gradients(model_text, data, guide_text, params, reps, *, objective="elbo",
               estimators=None, num_mc=8, num_importance=1, seed=0):
    """``reps`` independent estimates of the objective's gradient at the constrained
    ``params``, as the vi backend computes them: (reps, number of parameters) and the
    parameter names, in order."""
    compiled = _quiet(ppl.model(model_text).compile, data)
    guide = compile_guide(compiled, guide_text)
    raw = guide.initial_params(params)
    plan, grid = estimator_plan(guide, raw, objective, estimators)
    loss = make_loss(compiled, guide, plan, grid, objective=objective, alpha=0.5,
                     num_mc=num_mc, num_importance=num_importance)
    names = sorted(raw)

    def one(key):
        grads = jax.grad(lambda r: -loss(r, key, compiled.traced_data, guide.traced_data)[0])(
            raw)
        return jnp.concatenate([jnp.ravel(grads[n]) for n in names])

    keys = jax.random.split(jax.random.PRNGKey(seed), reps)
    return np.asarray(jax.jit(jax.vmap(one))(keys)), names, plan, raw


def _assert_unbiased(estimates, exact):
    mean = estimates.mean(axis=0)
    se = estimates.std(axis=0, ddof=1) / math.sqrt(len(estimates))
    assert np.all(np.abs(mean - exact) < Z * se + 1e-9), (mean, exact, se)
    return mean, se


# ---------------------------------------------------------------------------------------------
# normal-normal: the ELBO in closed form


def _normal_elbo(m, log_s):
    """The ELBO of q = normal(m, exp(log_s)) for NORMAL_MEAN_MODEL with NORMAL_Y."""
    s2 = jnp.exp(2 * log_s)
    y = jnp.asarray(NORMAL_Y)
    prior = -0.5 * LOG_2PI - math.log(2) - 0.5 * ((m - 1) ** 2 + s2) / 4
    lik = jnp.sum(-0.5 * LOG_2PI - math.log(1.5) - 0.5 * ((y - m) ** 2 + s2) / 1.5**2)
    entropy = 0.5 * (LOG_2PI + 1) + log_s
    return prior + lik + entropy


@pytest.mark.parametrize("estimator, reps", [("reparam", 400), ("score", 3000)])
def test_normal_elbo_gradient_is_unbiased(estimator, reps):
    """The reparameterisation and score-function (leave-one-out baseline) estimators of the
    ELBO's gradient average to the closed form's gradient (the location and log-scale)."""
    m, log_s = 0.3, -0.7
    estimates, names, plan, _ = _gradients(
        NORMAL_MEAN_MODEL, NORMAL_DATA, NORMAL_GUIDE, {"m": m, "log_s": log_s}, reps,
        estimators={"mu": estimator})
    assert plan == {"mu": estimator} and names == ["log_s", "m"]
    exact = np.array(jax.grad(_normal_elbo, argnums=(1, 0))(m, log_s))
    _assert_unbiased(estimates, exact)


def test_score_function_baseline_lowers_the_variance():
    """The leave-one-out baseline leaves the score-function estimate unbiased and cuts its
    variance: with num_mc = 8 the per-estimate spread is well below reparam's times 10."""
    params = {"m": 0.3, "log_s": -0.7}
    score, *_ = _gradients(NORMAL_MEAN_MODEL, NORMAL_DATA, NORMAL_GUIDE, params, 300,
                           estimators={"mu": "score"})
    reparam, *_ = _gradients(NORMAL_MEAN_MODEL, NORMAL_DATA, NORMAL_GUIDE, params, 300)
    assert np.all(score.std(axis=0) > reparam.std(axis=0))  # the price of no path gradient


# ---------------------------------------------------------------------------------------------
# implicit reparameterisation: gamma, beta and Dirichlet guides

GAMMA_MODEL = """
data N: int
data y: int[N]
lam ~ gamma(2, 1)
y ~ poisson(lam)
"""
GAMMA_Y = np.array([3, 1, 4, 2, 2])
GAMMA_GUIDE = """
param a: real > 0
param b: real > 0
lam ~ gamma(a, b)
"""


def _gamma_elbo(a, b):
    y = jnp.asarray(GAMMA_Y)
    e_log, e_lam = digamma(a) - jnp.log(b), a / b
    prior = (2 - 1) * e_log - e_lam - gammaln(2.0)
    lik = jnp.sum(y * e_log - e_lam - gammaln(y + 1.0))
    entropy = a - jnp.log(b) + gammaln(a) + (1 - a) * digamma(a)
    return prior + lik + entropy


BETA_MODEL = """
data N: int
data y: int[N]
p ~ beta(2, 3)
y ~ bernoulli(p)
"""
BETA_Y = np.array([1, 0, 1, 1, 0, 1])
BETA_GUIDE = """
param a: real > 0
param b: real > 0
p ~ beta(a, b)
"""


def _beta_elbo(a, b):
    y = jnp.asarray(BETA_Y)
    e_log, e_log1m = digamma(a) - digamma(a + b), digamma(b) - digamma(a + b)
    prior = (2 - 1) * e_log + (3 - 1) * e_log1m - betaln(2.0, 3.0)
    lik = jnp.sum(y * e_log + (1 - y) * e_log1m)
    entropy = betaln(a, b) - (a - 1) * digamma(a) - (b - 1) * digamma(b) \
        + (a + b - 2) * digamma(a + b)
    return prior + lik + entropy


DIRICHLET_MODEL = """
data N: int
data y: int[N]
w ~ dirichlet([1, 2, 1])
y ~ categorical(w)
"""
DIRICHLET_Y = np.array([1, 2, 2, 3, 2, 1, 2])
DIRICHLET_GUIDE = """
param alpha: vector[3] > 0
w ~ dirichlet(alpha)
"""


def _log_beta(alpha):
    return jnp.sum(gammaln(alpha)) - gammaln(jnp.sum(alpha))


def _dirichlet_elbo(alpha):
    prior_alpha = jnp.array([1.0, 2.0, 1.0])
    e_log = digamma(alpha) - digamma(jnp.sum(alpha))
    counts = jnp.bincount(jnp.asarray(DIRICHLET_Y) - 1, length=3)
    prior = jnp.sum((prior_alpha - 1) * e_log) - _log_beta(prior_alpha)
    lik = jnp.sum(counts * e_log)
    entropy = _log_beta(alpha) + (jnp.sum(alpha) - 3) * digamma(jnp.sum(alpha)) \
        - jnp.sum((alpha - 1) * digamma(alpha))
    return prior + lik + entropy


@in_ppl_settings
def _exact_gradient_in_raw(elbo, names, params):
    """The gradient of ``elbo`` in the unconstrained (log) parameters, ordered as ``names``."""
    logs = {n: jnp.log(jnp.asarray(v, jnp.float64)) for n, v in params.items()}
    grads = jax.grad(lambda l: elbo(*(jnp.exp(l[n]) for n in params)))(logs)
    return np.concatenate([np.ravel(grads[n]) for n in names])


@pytest.mark.parametrize("model, data, guide, params, elbo, latent", [
    (GAMMA_MODEL, {"N": 5, "y": GAMMA_Y}, GAMMA_GUIDE, {"a": 3.0, "b": 1.5}, _gamma_elbo,
     "lam"),
    (BETA_MODEL, {"N": 6, "y": BETA_Y}, BETA_GUIDE, {"a": 2.5, "b": 1.7}, _beta_elbo, "p"),
    (DIRICHLET_MODEL, {"N": 7, "y": DIRICHLET_Y}, DIRICHLET_GUIDE,
     {"alpha": [1.5, 3.0, 2.0]}, _dirichlet_elbo, "w"),
], ids=["gamma", "beta", "dirichlet"])
def test_implicit_reparameterisation_is_unbiased(model, data, guide, params, elbo, latent):
    """Gamma, beta and Dirichlet guides are chosen the implicit estimator automatically, and
    its gradient averages to the closed-form ELBO's (in the log parameters)."""
    estimates, names, plan, _ = _gradients(model, data, guide, params, 400)
    assert plan == {latent: "implicit"}
    exact = _exact_gradient_in_raw(elbo, names, params)
    _assert_unbiased(estimates, exact)


def test_score_function_on_a_gamma_guide_is_unbiased():
    params = {"a": 3.0, "b": 1.5}
    estimates, names, _, _ = _gradients(GAMMA_MODEL, {"N": 5, "y": GAMMA_Y}, GAMMA_GUIDE,
                                        params, 3000, estimators={"lam": "score"})
    _assert_unbiased(estimates, _exact_gradient_in_raw(_gamma_elbo, names, params))


# ---------------------------------------------------------------------------------------------
# bounds without a closed form: two unbiased estimators must agree


def test_iwelbo_and_renyi_reparam_and_score_gradients_agree():
    """For the IWELBO (K = 4) the reparameterisation and score-function estimators estimate
    the same gradient: their means agree within their combined standard errors."""
    params = {"m": 0.3, "log_s": -0.7}
    for objective in ("iwelbo", "renyi"):
        reparam, *_ = _gradients(NORMAL_MEAN_MODEL, NORMAL_DATA, NORMAL_GUIDE, params, 400,
                                 objective=objective, num_importance=4)
        score, *_ = _gradients(NORMAL_MEAN_MODEL, NORMAL_DATA, NORMAL_GUIDE, params, 3000,
                               objective=objective, num_importance=4,
                               estimators={"mu": "score"}, seed=1)
        se = np.sqrt(reparam.var(axis=0) / len(reparam) + score.var(axis=0) / len(score))
        assert np.all(np.abs(reparam.mean(axis=0) - score.mean(axis=0)) < Z * se), objective


MIXTURE_GUIDE = """
param w: simplex[2]
param m: vector[2]
param s: vector[2] > 0
c ~ categorical(w)
mu ~ normal(m[c], s[c])
"""


@in_ppl_settings
def _mixture_elbo_gradient(params, names):
    """The ELBO of the two-component mixture guide by quadrature on a fine grid, and its
    gradient in the unconstrained parameters (through the guide's own transforms)."""
    from numpyro.distributions.transforms import StickBreakingTransform

    grid = jnp.linspace(-8.0, 10.0, 8001)
    y = jnp.asarray(NORMAL_Y)

    def elbo(raw):
        w = StickBreakingTransform()(raw["w"])
        m, s = raw["m"], jnp.exp(raw["s"])
        comps = -0.5 * ((grid[:, None] - m[None, :]) / s[None, :]) ** 2 \
            - jnp.log(s)[None, :] - 0.5 * LOG_2PI
        log_q = jax.nn.logsumexp(comps + jnp.log(w)[None, :], axis=1)
        log_p = (-0.5 * ((grid - 1) / 2) ** 2 - math.log(2) - 0.5 * LOG_2PI
                 + jnp.sum(-0.5 * ((y[None, :] - grid[:, None]) / 1.5) ** 2, axis=1)
                 - len(NORMAL_Y) * (math.log(1.5) + 0.5 * LOG_2PI))
        return jnp.trapezoid(jnp.exp(log_q) * (log_p - log_q), grid)

    grads = jax.grad(elbo)(params)
    return np.concatenate([np.ravel(grads[n]) for n in names])


MIXTURE_VALUES = {"w": [0.3, 0.7], "m": [0.0, 1.5], "s": [0.8, 0.4]}


@pytest.mark.parametrize("estimator, reps", [("enumerate", 300), ("score", 1000)])
def test_mixture_guide_gradient_is_unbiased(estimator, reps):
    """A discrete auxiliary variable of the guide (a mixture's component) is summed out of
    log q; the ELBO's expectation over it is enumerated (chosen automatically) or estimated
    by the score function, and either gradient matches quadrature's, for the weights too."""
    options = {} if estimator == "enumerate" else {"estimators": {"c": "score"}}
    estimates, names, plan, raw = _gradients(NORMAL_MEAN_MODEL, NORMAL_DATA, MIXTURE_GUIDE,
                                             MIXTURE_VALUES, reps, seed=2, **options)
    assert plan == {"mu": "reparam", "c": estimator}
    _assert_unbiased(estimates, _mixture_elbo_gradient(raw, names))


# ---------------------------------------------------------------------------------------------
# fits


def _fit(model, data, guide, **options):
    return _quiet(model.sample, data, backend="vi", guide=guide, chains=2, draws=1000,
                  **options)


def test_vi_fit_recovers_the_conjugate_posterior():
    """With a guide that contains the posterior, the ELBO and forward-KL fits find it; the
    results have the advi layout (posterior, sample_stats lp and log_weight, vi_trace) plus
    the fitted parameters in vi_params."""
    model = ppl.model(NORMAL_MEAN_MODEL)
    for objective in ("elbo", "forward_kl"):
        fit = _fit(model, NORMAL_DATA, NORMAL_GUIDE, objective=objective, seed=3)
        params = fit["vi_params"]
        # the fitted q is the posterior: location within 0.1 sd, scale within 5 %
        m, log_s = params["m"].item(), params["log_s"].item()
        assert abs(m - NORMAL_POSTERIOR_MEAN) < 0.1 * NORMAL_POSTERIOR_SD, objective
        assert abs(math.exp(log_s) / NORMAL_POSTERIOR_SD - 1) < 0.05, objective
        assert fit.posterior["mu"].shape == (2, 1000)
        assert fit["sample_stats"]["log_weight"].shape == (2, 1000)
        assert fit["vi_trace"]["elbo"].shape == (1, fit.attrs["vi_steps"])
        assert fit.attrs["vi_pareto_k"] < 0.5
        assert fit.attrs["vi_objective_kind"] == objective


CENTRED = """
data J: int >= 1
data y: real[J]
data sigma: real[J] > 0
mu ~ normal(0, 5)
tau ~ half_cauchy(5)
theta: vector[J] ~ normal(mu, tau)
y ~ normal(theta, sigma)
"""
MEANFIELD = """
param mu_loc: real
param mu_scale: real > 0
param tau_loc: real
param tau_scale: real > 0
param m: vector[J]
param s: vector[J] > 0
mu ~ normal(mu_loc, mu_scale)
tau ~ lognormal(tau_loc, tau_scale)
theta ~ normal(m, s)
"""
# The same parameters, but theta is Gaussian given the hierarchy: its location and its
# per-school scales follow mu and tau (the guide non-centres a centred model).
STRUCTURED = MEANFIELD.replace("theta ~ normal(m, s)", "theta ~ normal(mu + tau * m, tau * s)")


def test_structured_guide_beats_mean_field_on_eight_schools():
    """On the centred eight schools, whose funnel a mean-field Gaussian cannot follow, a guide
    that is Gaussian over the hierarchy with a per-school scale reaches a higher ELBO (by more
    than 5 Monte Carlo standard errors of the difference) and a smaller Pareto k."""
    data = json.loads((ROOT / "examples" / "eight_schools.json").read_text())
    model = ppl.model(CENTRED)
    fits = {name: _fit(model, data, guide, seed=1, max_steps=3000, num_mc=4)
            for name, guide in (("meanfield", MEANFIELD), ("structured", STRUCTURED))}
    log_w = {k: np.asarray(f["sample_stats"]["log_weight"]).ravel() for k, f in fits.items()}
    gain = log_w["structured"].mean() - log_w["meanfield"].mean()
    se = math.sqrt(sum(w.var() / len(w) for w in log_w.values()))
    assert gain > 5 * se and gain > 1.0, (gain, se)
    assert fits["structured"].attrs["vi_pareto_k"] < fits["meanfield"].attrs["vi_pareto_k"]


# ---------------------------------------------------------------------------------------------
# options (each observed in the run; see COVERAGE in test_option_effects.py)


def _small(**options):
    model = ppl.model(NORMAL_MEAN_MODEL)
    return _quiet(model.sample, NORMAL_DATA, backend="vi", chains=1, draws=20, seed=5,
                  **{"guide": NORMAL_GUIDE, **options})


def test_vi_stopping_options_set_the_number_of_steps():
    """A plateau is found at every check when tol is huge: the fit stops after
    check_every * (plateaus + 1) steps; max_steps caps it, rounded up to whole chunks."""
    assert _small(tol=10.0, plateaus=2, check_every=10).attrs["vi_steps"] == 30
    assert _small(tol=10.0, plateaus=2, check_every=20).attrs["vi_steps"] == 60
    assert _small(tol=10.0, plateaus=1, check_every=10).attrs["vi_steps"] == 20
    capped = _small(max_steps=15, check_every=10, tol=1e-12)
    assert capped.attrs["vi_steps"] == 20 and capped.attrs["vi_converged"] == 0
    assert capped["vi_trace"]["objective"].shape == (1, 20)


def test_vi_init_learning_rate_and_num_mc():
    """init sets where the parameters start and a tiny learning_rate keeps them there; with q
    fixed, num_mc = 32 averages the per-step bound estimates to a quarter of the spread of
    num_mc = 2."""
    still = {"init": {"m": 4.0, "log_s": -1.0}, "learning_rate": 1e-9, "max_steps": 200,
             "check_every": 200}
    fits = {n: _small(num_mc=n, **still) for n in (2, 32)}
    for fit in fits.values():
        assert abs(fit["vi_params"]["m"].item() - 4.0) < 1e-4
        assert abs(np.asarray(fit.posterior["mu"]).mean() - 4.0) < 0.5
    spread = {n: np.std(np.asarray(f["vi_trace"]["objective"])) for n, f in fits.items()}
    assert 0.15 < spread[32] / spread[2] < 0.4
    moving = _small(init={"m": 4.0, "log_s": -1.0}, learning_rate=0.05, max_steps=400)
    assert abs(moving["vi_params"]["m"].item() - NORMAL_POSTERIOR_MEAN) < 0.5


def test_vi_objective_num_importance_and_alpha_change_the_bound():
    """At a fixed q (far from the posterior), the IWELBO with K = 16 is above the ELBO, and
    the Renyi bound falls as alpha rises towards the ELBO."""
    still = {"init": {"m": 0.0, "log_s": 0.5}, "learning_rate": 1e-9, "max_steps": 200,
             "check_every": 200, "num_mc": 16}

    def bound(**options):
        return float(np.mean(np.asarray(_small(**still, **options)["vi_trace"]["objective"])))

    elbo = bound(objective="elbo")
    iwelbo = {k: bound(objective="iwelbo", num_importance=k) for k in (1, 16)}
    assert abs(iwelbo[1] - elbo) < 0.5 and iwelbo[16] > elbo + 2
    renyi = {a: bound(objective="renyi", alpha=a, num_importance=16) for a in (0.2, 0.8)}
    assert iwelbo[16] > renyi[0.2] > renyi[0.8] > elbo


def test_vi_estimators_option_changes_the_gradient():
    """estimators={'mu': 'score'} (or the command line's 'mu:score') replaces the path
    gradient: from the same seed the fitted parameters differ, and both land near the
    posterior."""
    reparam = _small(estimators="mu:reparam", learning_rate=0.05, max_steps=600)
    score = _small(estimators={"mu": "score"}, learning_rate=0.05, max_steps=600)
    assert json.loads(score.attrs["vi_estimators"]) == {"mu": "score"}
    assert reparam["vi_params"]["m"].item() != score["vi_params"]["m"].item()
    for fit in (reparam, score):
        assert abs(fit["vi_params"]["m"].item() - NORMAL_POSTERIOR_MEAN) < 0.3


# ---------------------------------------------------------------------------------------------
# usage errors, truncated families and the model's discrete latents

POSITIVE_MEAN_MODEL = NORMAL_MEAN_MODEL.replace("mu ~ normal(1, 2)", "mu: real > 0 ~ normal(1, 2)")
TRUNCATED_GUIDE = "param a: real\nmu: real > 0 ~ normal(a, 0.5)\n"


@pytest.mark.parametrize("options, message", [
    ({}, "the vi backend needs a guide"),
    ({"guide": NORMAL_GUIDE, "estimators": {"nu": "score"}},
     "estimators names 'nu', which the guide does not draw"),
    ({"guide": NORMAL_GUIDE, "estimators": "mu:magic"}, "unknown estimator 'magic' for 'mu'"),
    ({"guide": NORMAL_GUIDE, "estimators": {"mu": "enumerate"}},
     "'mu' cannot be enumerated: only discrete auxiliary variables of the guide can"),
    ({"guide": TRUNCATED_GUIDE, "estimators": "mu:reparam"},
     "'mu' ~ normal has no differentiable sampler, so it cannot be reparameterised"),
    ({"guide": NORMAL_GUIDE, "num_mc": 1}, "num_mc must be 2 or more for the vi backend"),
])
def test_vi_usage_errors(options, message):
    truncated = options.get("guide") == TRUNCATED_GUIDE
    model = ppl.model(POSITIVE_MEAN_MODEL if truncated else NORMAL_MEAN_MODEL)
    with pytest.raises(ppl.SamplingError) as info:
        _quiet(model.sample, NORMAL_DATA, backend="vi", chains=1, draws=10, **options)
    assert [d.message for d in info.value.diagnostics] == [message]
    assert all(d.hint for d in info.value.diagnostics)


def test_truncated_guide_takes_the_score_function_and_is_unbiased():
    """A guide family truncated by declared bounds is drawn by bisection on its CDF, whose
    gradient is not the draw's: it is given the score function automatically, unbiased
    against the ELBO computed by quadrature."""
    estimates, names, plan, _ = _gradients(POSITIVE_MEAN_MODEL, NORMAL_DATA, TRUNCATED_GUIDE,
                                           {"a": 0.4}, 2000)
    assert plan == {"mu": "score"} and names == ["a"]

    @in_ppl_settings
    def exact(a):
        from jax.scipy.stats import norm

        grid = jnp.linspace(1e-6, 8.0, 8001)
        log_q = norm.logpdf(grid, a, 0.5) - norm.logcdf(a / 0.5)
        y = jnp.asarray(NORMAL_Y)
        log_p = (norm.logpdf(grid, 1, 2) - norm.logcdf(0.5)
                 + jnp.sum(norm.logpdf(y[None, :], grid[:, None], 1.5), axis=1))
        return jnp.trapezoid(jnp.exp(log_q) * (log_p - log_q), grid)

    _assert_unbiased(estimates, np.array([jax.grad(exact)(0.4)]))


def test_discrete_latents_of_the_model_are_summed_out_and_drawn_back():
    """A mixture's labels are summed out of the model's density (exact enumeration); the
    guide covers the continuous latents only, and the fit holds draws of the labels from
    their conditional posterior given each draw of q."""
    mixture = """
data N: int
data y: vector[N]
mu: vector[2] ~ normal(0, 5)
z[n] ~ categorical([0.4, 0.6]) for n in 1:N
y[n] ~ normal(mu[z[n]], 1) for n in 1:N
"""
    guide = "param m: vector[2]\nparam s: vector[2] > 0\nmu ~ normal(m, s)\n"
    y = np.array([-3.1, -2.4, -2.9, 3.2, 2.8, 3.5, 2.6, 3.0])
    fit = _quiet(ppl.model(mixture).sample, {"N": 8, "y": y}, backend="vi", guide=guide,
                 chains=1, draws=200, max_steps=1000, seed=2, var_names=["z"],
                 init={"m": [-1.0, 1.0]})
    z = np.asarray(fit.posterior["z"])[0]
    assert z.shape == (200, 8)
    assert np.all(z[:, :3] == 1) and np.all(z[:, 3:] == 2)


def test_ppl_check_checks_a_guide(capsys, monkeypatch):
    """`ppl check MODEL --data DATA --guide GUIDE` prints the guide's located error (as the
    golden file has it) and exits with 1, or `GUIDE: OK`."""
    from ppl.cli import main

    monkeypatch.chdir(ROOT)
    args = ["check", "examples/eight_schools.ppl", "--data", "examples/eight_schools.json"]
    bad = "tests/golden/errors/guides/wrong_support.ppl"
    assert main([*args, "--guide", bad]) == 1
    expected = (ROOT / "tests/golden/errors/guides/wrong_support.expected").read_text()
    assert capsys.readouterr().err == expected
    guide = ROOT / "examples" / "guides" / "eight_schools.ppl"
    assert main([*args, "--guide", str(guide)]) == 0
    assert f"{guide}: OK" in capsys.readouterr().out


def test_missing_data_is_refused_with_a_reason():
    model = ppl.model(NORMAL_MEAN_MODEL)
    data = {"N": 3, "y": [0.5, None, 1.0]}
    with pytest.raises(ppl.ModelError, match="does not support missing data"):
        _quiet(model.sample, data, backend="vi", guide=NORMAL_GUIDE, chains=1, draws=10)


def test_a_guide_without_parameters_is_a_fixed_q():
    """A guide with no `param` has nothing to fit: its draws are q's and the bound is that of
    q, here (q the exact posterior) the log evidence, with constant log-weights."""
    guide = f"mu ~ normal({float(NORMAL_POSTERIOR_MEAN)!r}, {float(NORMAL_POSTERIOR_SD)!r})\n"
    fit = _small(guide=guide, max_steps=400)
    log_w = np.asarray(fit["sample_stats"]["log_weight"])
    assert np.ptp(log_w) < 1e-8 and len(fit["vi_params"].data_vars) == 0
    assert abs(np.asarray(fit.posterior["mu"]).mean() - NORMAL_POSTERIOR_MEAN) \
        < 4 * NORMAL_POSTERIOR_SD / math.sqrt(20)


def test_vi_runs_in_float32():
    fit = _small(precision="float32", max_steps=1000, learning_rate=0.05)
    assert fit.posterior["mu"].dtype == np.float32
    assert abs(fit["vi_params"]["m"].item() - NORMAL_POSTERIOR_MEAN) < 0.2 * NORMAL_POSTERIOR_SD
