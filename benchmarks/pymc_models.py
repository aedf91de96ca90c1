"""The nine anchor problems of benchmarks/bench_anchors.py written in PyMC, for nutpie.

Each function takes the problem's data (the conformance kit's entries, or the simulated
logistic regression's) and returns a ``pm.Model`` matched to the ``.ppl`` file it is compared
with: the same priors, likelihood, parameterisation and unconstraining transforms, so that all
three samplers work on the same unconstrained space (tests/test_bench_anchors.py checks that
the log densities agree up to a constant). Deterministic quantities in the kit's reference
(``theta``, ``f``) are recorded with ``pm.Deterministic``.

Where PyMC spells a ppl declaration differently:
- a parameter without a prior is ``pm.Flat`` / ``pm.HalfFlat`` / ``pm.Uniform`` on its set
  (flat there; PyMC adds the unconstraining Jacobian, as ppl does);
- ``simplex[2]`` with a flat prior is its first component, ``pm.Uniform(0, 1)`` with PyMC's
  log-odds transform, which is NumPyro's (and so ppl's) stick-breaking for two components;
  the simplex itself is recorded as a deterministic of the same name as in the ``.ppl``
  (:data:`LATENT_NAMES` maps ppl's latent to PyMC's free variable);
- ``positive_ordered[2]`` uses the transform ``Chain([log, ordered])``: exp of the ordered
  transform, NumPyro's ``biject_to(positive_ordered_vector)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pymc.distributions import transforms


def _vector(data: Mapping, name: str) -> np.ndarray:
    return np.asarray(data[name], dtype=float)


def eight_schools_noncentered(data: Mapping) -> pm.Model:
    """eight_schools_noncentered: the non-centred hierarchical model."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfCauchy("tau", 5.0)
        theta_trans = pm.Normal("theta_trans", 0.0, 1.0, shape=int(data["J"]))
        theta = pm.Deterministic("theta", mu + tau * theta_trans)
        pm.Normal("y", theta, _vector(data, "sigma"), observed=_vector(data, "y"))
    return model


def kidscore_interaction(data: Mapping) -> pm.Model:
    """kidscore_interaction: regression with an interaction, flat beta, half-Cauchy sigma."""
    hs, iq = _vector(data, "mom_hs"), _vector(data, "mom_iq")
    x = np.stack([np.ones_like(hs), hs, iq, hs * iq], axis=1)
    with pm.Model() as model:
        beta = pm.Flat("beta", shape=4)
        sigma = pm.HalfCauchy("sigma", 2.5)
        pm.Normal("kid_score", pt.dot(x, beta), sigma, observed=_vector(data, "kid_score"))
    return model


def diamonds(data: Mapping) -> pm.Model:
    """diamonds: 24 correlated predictors, centred design, separate intercept."""
    x = np.asarray(data["X"], dtype=float)[:, 1:]
    xc = x - x.mean(axis=0)
    with pm.Model() as model:
        b = pm.Normal("b", 0.0, 1.0, shape=xc.shape[1])
        intercept = pm.StudentT("Intercept", nu=3.0, mu=8.0, sigma=10.0)
        sigma = pm.HalfStudentT("sigma", nu=3.0, sigma=10.0)
        pm.Normal("Y", intercept + pt.dot(xc, b), sigma, observed=_vector(data, "Y"))
    return model


def ar_k(data: Mapping) -> pm.Model:
    """arK: AR(K) with a conditional likelihood (the first K values are only predictors)."""
    k, t, y = int(data["K"]), int(data["T"]), _vector(data, "y")
    lags = np.stack([y[k - j:t - j] for j in range(1, k + 1)], axis=1)  # column j-1: lag j
    with pm.Model() as model:
        alpha = pm.Normal("alpha", 0.0, 10.0)
        beta = pm.Normal("beta", 0.0, 10.0, shape=k)
        sigma = pm.HalfCauchy("sigma", 2.5)
        pm.Normal("y", alpha + pt.dot(lags, beta), sigma, observed=y[k:])
    return model


def garch11(data: Mapping) -> pm.Model:
    """garch11: flat on mu, alpha0 > 0 and the triangle 0 < alpha1, 0 < beta1 < 1 - alpha1."""
    y = _vector(data, "y")
    with pm.Model() as model:
        mu = pm.Flat("mu")
        alpha0 = pm.HalfFlat("alpha0")
        alpha1 = pm.Uniform("alpha1", 0.0, 1.0)
        beta1 = pm.Uniform("beta1", 0.0, 1.0 - alpha1)
        # Flat in beta1 itself: Uniform(0, 1 - alpha1) has density 1 / (1 - alpha1).
        pm.Potential("beta1_flat", pt.log1p(-alpha1))

        def step(y_prev, sigma_prev, mu, alpha0, alpha1, beta1):
            return pt.sqrt(alpha0 + alpha1 * pt.square(y_prev - mu)
                           + beta1 * pt.square(sigma_prev))

        start = pt.as_tensor_variable(np.float64(data["sigma1"]))
        later = pytensor.scan(step, sequences=[y[:-1]], outputs_info=[start],
                              non_sequences=[mu, alpha0, alpha1, beta1], return_updates=False)
        sigma = pt.concatenate([start[None], later])
        pm.Normal("y", mu, sigma, observed=y)
    return model


def gp_pois_regr(data: Mapping) -> pm.Model:
    """gp_pois_regr: latent GP (squared-exponential kernel, jitter 1e-10), non-centred,
    Poisson with log link."""
    x = _vector(data, "x")
    n = x.shape[0]
    squared = np.square(x[:, None] - x[None, :])
    with pm.Model() as model:
        rho = pm.Gamma("rho", alpha=25.0, beta=4.0)
        alpha = pm.HalfNormal("alpha", 2.0)
        f_tilde = pm.Normal("f_tilde", 0.0, 1.0, shape=n)
        cov = pt.square(alpha) * pt.exp(-0.5 * squared / pt.square(rho)) + 1e-10 * np.eye(n)
        f = pm.Deterministic("f", pt.dot(pt.linalg.cholesky(cov), f_tilde))
        pm.Poisson("k", pt.exp(f), observed=np.asarray(data["k"], dtype=np.int64))
    return model


def low_dim_gauss_mix(data: Mapping) -> pm.Model:
    """low_dim_gauss_mix: two normals, labels summed out, ordered means."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 2.0, shape=2, transform=transforms.ordered,
                       initval=np.array([-1.0, 1.0]))
        sigma = pm.HalfNormal("sigma", 2.0, shape=2)
        theta = pm.Beta("theta", 5.0, 5.0)
        # theta weighs the component with the smaller mean, mu[1]
        pm.NormalMixture("y", w=pt.stack([theta, 1.0 - theta]), mu=mu, sigma=sigma,
                         observed=_vector(data, "y"))
    return model


def hmm_example(data: Mapping) -> pm.Model:
    """hmm_example: two-state HMM, states summed out with the forward algorithm."""
    y = _vector(data, "y")
    with pm.Model() as model:
        rows = []
        for name in ("theta1", "theta2"):
            first = pm.Uniform(f"{name}_1", 0.0, 1.0)  # flat simplex[2], see the module doc
            rows.append(pm.Deterministic(name, pt.stack([first, 1.0 - first])))
        mu = pm.Normal("mu", np.array([3.0, 10.0]), 1.0, shape=2,
                       transform=transforms.Chain([transforms.log, transforms.ordered]),
                       initval=np.array([3.0, 10.0]))
        log_theta = pt.log(pt.stack(rows))  # row j: log Pr(next state | state j)
        emission = pm.logp(pm.Normal.dist(mu[None, :], 1.0), y[:, None])  # (N, 2)

        def forward(emission_t, gamma_prev, log_theta):
            return pt.logsumexp(gamma_prev[:, None] + log_theta, axis=0) + emission_t

        gammas = pytensor.scan(forward, sequences=[emission[1:]], outputs_info=[emission[0]],
                               non_sequences=[log_theta], return_updates=False)
        pm.Potential("log_lik", pt.logsumexp(gammas[-1]))
    return model


def logistic(data: Mapping) -> pm.Model:
    """The synthetic logistic regression (benchmarks/logistic.ppl)."""
    x = np.asarray(data["X"], dtype=float)
    with pm.Model() as model:
        alpha = pm.Normal("alpha", 0.0, 2.5)
        beta = pm.Normal("beta", 0.0, 1.0, shape=x.shape[1])
        pm.Bernoulli("y", logit_p=alpha + pt.dot(x, beta), observed=np.asarray(data["y"]))
    return model


# anchor problem (as in benchmarks/bench_anchors.py) -> PyMC model of its data
MODELS: dict[str, Callable[[Mapping], pm.Model]] = {
    "eight_schools-eight_schools_noncentered": eight_schools_noncentered,
    "kidiq-kidscore_interaction": kidscore_interaction,
    "diamonds-diamonds": diamonds,
    "arK-arK": ar_k,
    "garch-garch11": garch11,
    "gp_pois_regr-gp_pois_regr": gp_pois_regr,
    "low_dim_gauss_mix-low_dim_gauss_mix": low_dim_gauss_mix,
    "hmm_example-hmm_example": hmm_example,
    "logistic": logistic,
}

# ppl latent -> PyMC free variable, where the names differ (every other latent has its name)
LATENT_NAMES: dict[str, dict[str, str]] = {
    "hmm_example-hmm_example": {"theta1": "theta1_1", "theta2": "theta2_1"},
}
__all__ = ["LATENT_NAMES", "MODELS"]
