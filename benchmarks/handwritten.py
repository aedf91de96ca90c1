"""The benchmark models written by hand in NumPyro, as a good NumPyro user would write them."""

from __future__ import annotations

import numpyro
import numpyro.distributions as dist


def eight_schools(J, y, sigma):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("J", J):
        theta_raw = numpyro.sample("theta_raw", dist.Normal(0.0, 1.0))
        theta = numpyro.deterministic("theta", mu + tau * theta_raw)
        numpyro.sample("y", dist.Normal(theta, sigma), obs=y)


def diamonds(N, Y, K, X, prior_only):
    Xc_raw = X[:, 1:]
    means = Xc_raw.mean(axis=0)
    Xc = Xc_raw - means
    b = numpyro.sample("b", dist.Normal(0.0, 1.0).expand([K - 1]).to_event(1))
    intercept = numpyro.sample("Intercept", dist.StudentT(3.0, 8.0, 10.0))
    sigma = numpyro.sample("sigma", dist.FoldedDistribution(dist.StudentT(3.0, 0.0, 10.0)))
    numpyro.sample("Y", dist.Normal(intercept + Xc @ b, sigma), obs=Y)


def logistic(N, K, X, y):
    alpha = numpyro.sample("alpha", dist.Normal(0.0, 2.5))
    beta = numpyro.sample("beta", dist.Normal(0.0, 1.0).expand([K]).to_event(1))
    numpyro.sample("y", dist.BernoulliLogits(alpha + X @ beta), obs=y)


MODELS = {"eight_schools": eight_schools, "diamonds": diamonds, "logistic": logistic}
__all__ = ["MODELS"]
