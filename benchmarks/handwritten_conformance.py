"""The conformance models (tests/conformance/models/*.ppl) written by hand in NumPyro.

Each function is the model a NumPyro user would write from the kit's ``model.md``, matched to
the ``.ppl`` file it is compared with: the same priors, likelihood, parameterisation and
constraints, so that both sides sample on the same unconstrained space (the log densities are
compared in tests/test_bench_conformance.py). Arguments are the kit's data names; the data are
read from the kit at run time (``bench_core.hand_kwargs`` picks the entries a model takes).

Conventions used below:
- a parameter without a prior in the original program gets ``dist.ImproperUniform`` on its
  constrained set (flat there, with the unconstraining Jacobian added by NumPyro);
- a prior on an ordered or positive-ordered vector is an ``ImproperUniform`` on that set plus a
  ``numpyro.factor`` with the normal density, as the ``.ppl`` writes ``mu: ordered[2] ~ ...``;
- deterministic quantities in the kit's reference (``theta``, ``f``) are recorded with
  ``numpyro.deterministic`` so that both sides report the same parameters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from benchmarks.handwritten import diamonds


def _flat(support, *shape):
    """An improper flat prior on ``support`` with event shape ``shape``."""
    return dist.ImproperUniform(support, (), tuple(shape))


def ar_k(K, T, y):
    """arK-arK: AR(K) with a conditional likelihood (the first K values are only predictors)."""
    alpha = numpyro.sample("alpha", dist.Normal(0.0, 10.0))
    beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([K]).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    # lags[i, k - 1] = y at time K + i - k: beta[k] multiplies the lag-k value
    lags = jnp.stack([y[K - k:T - k] for k in range(1, K + 1)], axis=1)
    with numpyro.plate("time", T - K):
        numpyro.sample("y", dist.Normal(alpha + lags @ beta, sigma), obs=y[K:])


def logearn_height(N, earn, height):
    """earnings-logearn_height: log earnings on height, flat priors on beta and sigma > 0."""
    beta = numpyro.sample("beta", _flat(constraints.real, 2))
    sigma = numpyro.sample("sigma", _flat(constraints.positive))
    with numpyro.plate("N", N):
        numpyro.sample("log_earn", dist.Normal(beta[0] + beta[1] * height, sigma),
                       obs=jnp.log(earn))


def logearn_interaction_z(N, earn, height, male):
    """earnings-logearn_interaction_z: standardised height (sd with N - 1), sex, interaction."""
    z_height = (height - jnp.mean(height)) / jnp.std(height, ddof=1)
    X = jnp.stack([jnp.ones(N), z_height, male, z_height * male], axis=1)
    beta = numpyro.sample("beta", _flat(constraints.real, 4))
    sigma = numpyro.sample("sigma", _flat(constraints.positive))
    with numpyro.plate("N", N):
        numpyro.sample("log_earn", dist.Normal(X @ beta, sigma), obs=jnp.log(earn))


def eight_schools_noncentered(J, y, sigma):
    """eight_schools-eight_schools_noncentered: the non-centred hierarchical model."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("J", J):
        theta_trans = numpyro.sample("theta_trans", dist.Normal(0.0, 1.0))
        theta = numpyro.deterministic("theta", mu + tau * theta_trans)
        numpyro.sample("y", dist.Normal(theta, sigma), obs=y)


def garch11(T, y, sigma1):
    """garch-garch11: GARCH(1,1), flat on mu, alpha0 > 0 and the triangle
    0 < alpha1, 0 < beta1 < 1 - alpha1 (beta1's bound depends on alpha1)."""
    mu = numpyro.sample("mu", _flat(constraints.real))
    alpha0 = numpyro.sample("alpha0", _flat(constraints.positive))
    alpha1 = numpyro.sample("alpha1", _flat(constraints.interval(0.0, 1.0)))
    # Flat in beta1 itself: Uniform(0, 1 - alpha1) would add a 1 / (1 - alpha1) factor.
    beta1 = numpyro.sample("beta1", _flat(constraints.interval(0.0, 1.0 - alpha1)))

    def step(sigma_prev, y_prev):
        sigma_t = jnp.sqrt(alpha0 + alpha1 * jnp.square(y_prev - mu)
                           + beta1 * jnp.square(sigma_prev))
        return sigma_t, sigma_t

    start = jnp.asarray(sigma1, dtype=y.dtype)
    _, later = jax.lax.scan(step, start, y[:-1])
    sigma = jnp.concatenate([start[None], later])
    with numpyro.plate("T", T):
        numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


def gp_pois_regr(N, x, k):
    """gp_pois_regr-gp_pois_regr: latent GP (squared-exponential kernel, jitter 1e-10),
    non-centred, Poisson with log link."""
    rho = numpyro.sample("rho", dist.Gamma(25.0, 4.0))
    alpha = numpyro.sample("alpha", dist.HalfNormal(2.0))
    f_tilde = numpyro.sample("f_tilde", dist.Normal(0.0, 1.0).expand([N]).to_event(1))
    distance = x[:, None] - x[None, :]
    cov = alpha**2 * jnp.exp(-0.5 * jnp.square(distance / rho)) + 1e-10 * jnp.eye(N)
    f = numpyro.deterministic("f", jnp.linalg.cholesky(cov) @ f_tilde)
    with numpyro.plate("N", N):
        numpyro.sample("k", dist.Poisson(jnp.exp(f)), obs=k)


def hmm_example(y):
    """hmm_example-hmm_example: two-state HMM, states summed out with the forward algorithm."""
    # Dirichlet(1, 1) is the flat density on the simplex of the original program.
    theta1 = numpyro.sample("theta1", dist.Dirichlet(jnp.ones(2)))
    theta2 = numpyro.sample("theta2", dist.Dirichlet(jnp.ones(2)))
    mu = numpyro.sample("mu", _flat(constraints.positive_ordered_vector, 2))
    numpyro.factor("mu_prior", dist.Normal(jnp.array([3.0, 10.0]), 1.0).log_prob(mu).sum())
    log_theta = jnp.log(jnp.stack([theta1, theta2]))  # row j: log Pr(next state | state j)
    emission = dist.Normal(mu[None, :], 1.0).log_prob(y[:, None])  # (N, 2)

    def forward(gamma_prev, emission_t):
        gamma = jax.nn.logsumexp(gamma_prev[:, None] + log_theta, axis=0) + emission_t
        return gamma, None

    gamma_last, _ = jax.lax.scan(forward, emission[0], emission[1:])
    numpyro.factor("log_lik", jax.nn.logsumexp(gamma_last))


def _lotka_volterra_rhs(t, z, theta):
    prey, predator = z[0], z[1]
    return jnp.stack([(theta[0] - theta[1] * predator) * prey,
                      (-theta[2] + theta[3] * prey) * predator])


def lotka_volterra(ts, y_init, y):
    """hudson_lynx_hare-lotka_volterra: predator-prey ODE, log-normal measurement errors.

    The ODE is solved with the DSL's solver settings (diffrax Dopri5, rtol 1e-6, atol 1e-5,
    at most 4096 steps, NaN on failure) so that the comparison is of the two front ends, not of
    two ODE solvers."""
    import diffrax

    theta = numpyro.sample("theta", dist.TruncatedNormal(
        jnp.array([1.0, 0.05, 1.0, 0.05]), jnp.array([0.5, 0.05, 0.5, 0.05]), low=0.0
    ).to_event(1))
    z_init = numpyro.sample("z_init", dist.LogNormal(jnp.log(10.0), 1.0).expand([2]).to_event(1))
    sigma = numpyro.sample("sigma", dist.LogNormal(-1.0, 1.0).expand([2]).to_event(1))
    ts = jnp.asarray(ts, dtype=z_init.dtype)
    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(_lotka_volterra_rhs), diffrax.Dopri5(), t0=0.0, t1=ts[-1], dt0=None,
        y0=z_init, args=theta, saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-5), max_steps=4096,
        throw=False)
    # A failed solve at extreme parameters becomes NaN, which NUTS rejects. NumPyro validates
    # distribution arguments when they are concrete (as in its initialisation trace), so the
    # check is turned off here: a NaN must reject the point, not end the run.
    z = jnp.where(solution.result == diffrax.RESULTS.successful, solution.ys, jnp.nan)
    numpyro.sample("y_init", dist.LogNormal(jnp.log(z_init), sigma).to_event(1), obs=y_init)
    with numpyro.validation_enabled(False):
        numpyro.sample("y", dist.LogNormal(jnp.log(z), sigma[None, :]).to_event(2), obs=y)


def kidscore_interaction(N, kid_score, mom_hs, mom_iq):
    """kidiq-kidscore_interaction: regression with an interaction, flat beta, half-Cauchy."""
    X = jnp.stack([jnp.ones(N), mom_hs, mom_iq, mom_hs * mom_iq], axis=1)
    beta = numpyro.sample("beta", _flat(constraints.real, 4))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    with numpyro.plate("N", N):
        numpyro.sample("kid_score", dist.Normal(X @ beta, sigma), obs=kid_score)


def kidscore_momiq(N, kid_score, mom_iq):
    """kidiq-kidscore_momiq: child score on mother's IQ, flat beta, half-Cauchy sigma."""
    beta = numpyro.sample("beta", _flat(constraints.real, 2))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    with numpyro.plate("N", N):
        numpyro.sample("kid_score", dist.Normal(beta[0] + beta[1] * mom_iq, sigma),
                       obs=kid_score)


def kilpisjarvi(N, x, y, pmualpha, psalpha, pmubeta, psbeta):
    """kilpisjarvi_mod-kilpisjarvi: linear trend, uncentred year, flat sigma > 0."""
    alpha = numpyro.sample("alpha", dist.Normal(pmualpha, psalpha))
    beta = numpyro.sample("beta", dist.Normal(pmubeta, psbeta))
    sigma = numpyro.sample("sigma", _flat(constraints.positive))
    with numpyro.plate("N", N):
        numpyro.sample("y", dist.Normal(alpha + beta * x, sigma), obs=y)


def low_dim_gauss_mix(N, y):
    """low_dim_gauss_mix-low_dim_gauss_mix: two normals, labels summed out, ordered means."""
    mu = numpyro.sample("mu", _flat(constraints.ordered_vector, 2))
    numpyro.factor("mu_prior", dist.Normal(0.0, 2.0).log_prob(mu).sum())
    sigma = numpyro.sample("sigma", dist.HalfNormal(2.0).expand([2]).to_event(1))
    theta = numpyro.sample("theta", dist.Beta(5.0, 5.0))
    # theta weighs the component with the smaller mean, mu[0]
    mixture = dist.MixtureSameFamily(dist.Categorical(probs=jnp.stack([theta, 1.0 - theta])),
                                     dist.Normal(mu, sigma))
    with numpyro.plate("N", N):
        numpyro.sample("y", mixture, obs=y)


def logmesquite(N, weight, diam1, diam2, canopy_height, total_height, density, group):
    """mesquite-logmesquite: log-log regression, flat beta and sigma > 0."""
    X = jnp.stack([jnp.ones(N), jnp.log(diam1), jnp.log(diam2), jnp.log(canopy_height),
                   jnp.log(total_height), jnp.log(density), group], axis=1)
    beta = numpyro.sample("beta", _flat(constraints.real, 7))
    sigma = numpyro.sample("sigma", _flat(constraints.positive))
    with numpyro.plate("N", N):
        numpyro.sample("log_weight", dist.Normal(X @ beta, sigma), obs=jnp.log(weight))


def nes(N, partyid7, real_ideo, race_adj, age_discrete, educ1, gender, income):
    """nes1972-nes: regression with age-group indicators (18-29 is the baseline), flat priors."""
    age = [jnp.where(age_discrete == group, 1.0, 0.0) for group in (2, 3, 4)]
    X = jnp.stack([jnp.ones(N), real_ideo, race_adj, *age, educ1, gender, income], axis=1)
    beta = numpyro.sample("beta", _flat(constraints.real, 9))
    sigma = numpyro.sample("sigma", _flat(constraints.positive))
    with numpyro.plate("N", N):
        numpyro.sample("partyid7", dist.Normal(X @ beta, sigma), obs=partyid7)


def blr(N, D, X, y):
    """sblrc-blr: Bayesian linear regression without a separate intercept."""
    beta = numpyro.sample("beta", dist.Normal(0.0, 10.0).expand([D]).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(10.0))
    with numpyro.plate("N", N):
        numpyro.sample("y", dist.Normal(X @ beta, sigma), obs=y)


# posterior name (as in the conformance kit and tests/conformance/models) -> NumPyro model
MODELS = {
    "arK-arK": ar_k,
    "diamonds-diamonds": diamonds,
    "earnings-logearn_height": logearn_height,
    "earnings-logearn_interaction_z": logearn_interaction_z,
    "eight_schools-eight_schools_noncentered": eight_schools_noncentered,
    "garch-garch11": garch11,
    "gp_pois_regr-gp_pois_regr": gp_pois_regr,
    "hmm_example-hmm_example": hmm_example,
    "hudson_lynx_hare-lotka_volterra": lotka_volterra,
    "kidiq-kidscore_interaction": kidscore_interaction,
    "kidiq-kidscore_momiq": kidscore_momiq,
    "kilpisjarvi_mod-kilpisjarvi": kilpisjarvi,
    "low_dim_gauss_mix-low_dim_gauss_mix": low_dim_gauss_mix,
    "mesquite-logmesquite": logmesquite,
    "nes1972-nes": nes,
    "sblrc-blr": blr,
}
__all__ = ["MODELS"]
