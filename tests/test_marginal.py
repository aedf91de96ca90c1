"""Discrete latents summed out by the compiler, drawn back afterwards, and generated quantities.

Densities are compared exactly with the same models written by hand (log_mix, log_sum_exp,
numpy); the draws of the discrete latents are compared with their exact conditional posterior,
enumerated by brute force, with tolerances from the Monte Carlo standard error.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from model_text import HMM_MODEL
from scipy import stats
from scipy.special import logsumexp

import ppl

Z = 4.5  # standard errors allowed between a frequency and its exact probability

MIXTURE = """
data N: int >= 0
data y: vector[N]
mu: ordered[2] ~ normal(0, 2)
sigma: vector[2] ~ half_normal(2)
theta ~ beta(5, 5)
z[n] ~ categorical([theta, 1 - theta]) for n in 1:N
y[n] ~ normal(mu[z[n]], sigma[z[n]]) for n in 1:N
"""

MIXTURE_BY_HAND = """
data N: int >= 0
data y: vector[N]
mu: ordered[2] ~ normal(0, 2)
sigma: vector[2] ~ half_normal(2)
theta ~ beta(5, 5)
target += log_mix(theta, normal_lpdf(y, mu[1], sigma[1]), normal_lpdf(y, mu[2], sigma[2]))
"""

HMM = HMM_MODEL

CHANGE_POINT = """
data T: int >= 1
data y: int[T]
early ~ exponential(0.5)
late ~ exponential(0.5)
s ~ categorical([1.0 / T for t in 1:T])
y[t] ~ poisson(if t < s then early else late) for t in 1:T
"""


def _mixture_data():
    rng = np.random.default_rng(3)
    labels = rng.random(40) < 0.3
    y = np.where(labels, rng.normal(-2, 0.7, 40), rng.normal(1.5, 1.0, 40))
    return {"N": 40, "y": y}


def _points(model, n=4):
    return [model.initial_point(jax.random.PRNGKey(i)) for i in range(n)]


def test_summed_out_mixture_equals_log_mix_exactly():
    data = _mixture_data()
    discrete = ppl.model(MIXTURE).compile(data)
    by_hand = ppl.model(MIXTURE_BY_HAND).compile(data)
    assert discrete.dimension == by_hand.dimension == 5  # z is not a sampled coordinate
    points = jnp.stack(_points(discrete))
    for fn in (lambda m: m.log_density, lambda m: jax.grad(m.log_density)):
        np.testing.assert_allclose(jax.jit(jax.vmap(fn(discrete)))(points),
                                   jax.jit(jax.vmap(fn(by_hand)))(points), rtol=1e-9, atol=1e-9)


def test_pointwise_log_likelihood_of_a_summed_out_mixture_is_the_mixture_density():
    data = _mixture_data()
    compiled = ppl.model(MIXTURE).compile(data)
    u = _points(compiled, 1)[0]
    v = compiled.constrain(u)
    theta, mu, sigma = float(v["theta"]), np.asarray(v["mu"]), np.asarray(v["sigma"])
    expected = np.logaddexp(np.log(theta) + stats.norm.logpdf(data["y"], mu[0], sigma[0]),
                            np.log1p(-theta) + stats.norm.logpdf(data["y"], mu[1], sigma[1]))
    np.testing.assert_allclose(compiled.pointwise_log_likelihood(u)["y"], expected, rtol=1e-10)


def _draws(compiled, u, name, n):
    keys = jax.random.split(jax.random.PRNGKey(11), n)
    return np.asarray(jax.jit(jax.vmap(lambda k: compiled.generated(u, k)[name]))(keys))


def _assert_frequencies(observed_counts, probabilities, n):
    """Every frequency within Z binomial standard errors of its exact probability."""
    freq = observed_counts / n
    se = np.sqrt(probabilities * (1 - probabilities) / n) + 1e-12
    worst = np.max(np.abs(freq - probabilities) / se)
    assert worst < Z, f"a frequency is {worst:.1f} standard errors from its probability"


def test_mixture_labels_are_drawn_from_their_exact_conditional_posterior():
    data = _mixture_data()
    compiled = ppl.model(MIXTURE).compile(data)
    u = compiled.unconstrain({"mu": np.array([-1.5, 1.0]), "sigma": np.array([0.8, 1.2]),
                              "theta": np.array(0.35)})
    n = 4000
    z = _draws(compiled, u, "z", n)
    assert set(np.unique(z)) <= {1, 2}
    first = np.log(0.35) + stats.norm.logpdf(data["y"], -1.5, 0.8)
    second = np.log(0.65) + stats.norm.logpdf(data["y"], 1.0, 1.2)
    exact = np.exp(first - np.logaddexp(first, second))
    _assert_frequencies((z == 1).sum(axis=0), exact, n)


def _hmm_data(T=6):
    rng = np.random.default_rng(5)
    states = [0]
    for _ in range(T - 1):
        states.append(states[-1] if rng.random() < 0.8 else 1 - states[-1])
    return {"T": T, "y": np.array([-1.0, 1.5])[states] + rng.normal(0, 1, T)}


def _parts(compiled, u):
    """(log prior, log likelihood) without Jacobians, compiled: eager evaluation is slow."""
    return jax.jit(lambda x: compiled.log_density_parts(x, jacobian=False))(u)


def _hmm_values():
    return {"rho": np.array([0.6, 0.4]), "stay": np.array([0.85, 0.7]),
            "mu": np.array([-1.0, 1.5])}


def _hmm_joint(y, rho, stay, mu, states):
    """log p(states, y) for one state sequence (0-based), directly from the definition."""
    P = np.array([[stay[0], 1 - stay[0]], [1 - stay[1], stay[1]]])
    lp = np.log(rho[states[0]])
    lp += sum(np.log(P[a, b]) for a, b in zip(states[:-1], states[1:]))
    return lp + sum(stats.norm.logpdf(y[t], mu[s], 1) for t, s in enumerate(states))


def test_forward_algorithm_equals_brute_force_enumeration():
    data = _hmm_data()
    compiled = ppl.model(HMM).compile(data)
    values = _hmm_values()
    u = compiled.unconstrain(values)
    joint = [_hmm_joint(data["y"], **values, states=s)
             for s in itertools.product([0, 1], repeat=data["T"])]
    prior, likelihood = _parts(compiled, u)
    by_hand_prior = (stats.dirichlet.logpdf(values["rho"], [2, 2])
                     + stats.beta.logpdf(values["stay"], 8, 2).sum()
                     + stats.norm.logpdf(values["mu"], 0, 3).sum())
    np.testing.assert_allclose(prior, by_hand_prior, rtol=1e-10)
    np.testing.assert_allclose(likelihood, logsumexp(joint), rtol=1e-10)


def test_hmm_states_are_drawn_from_their_exact_joint_posterior():
    """Forward filtering, backward sampling: whole sequences, not just marginals, must have
    their exact posterior frequencies."""
    data = _hmm_data()
    compiled = ppl.model(HMM).compile(data)
    values = _hmm_values()
    u = compiled.unconstrain(values)
    sequences = list(itertools.product([0, 1], repeat=data["T"]))
    joint = np.array([_hmm_joint(data["y"], **values, states=s) for s in sequences])
    exact = np.exp(joint - logsumexp(joint))
    n = 20000
    z = _draws(compiled, u, "z", n) - 1
    codes = z @ (2 ** np.arange(data["T"])[::-1])
    counts = np.bincount(codes, minlength=len(sequences))
    _assert_frequencies(counts, exact, n)


def test_a_scalar_discrete_parameter_may_be_used_anywhere():
    y = np.array([4, 5, 3, 6, 4, 1, 0, 2, 1, 1])
    compiled = ppl.model(CHANGE_POINT).compile({"T": len(y), "y": y})
    u = compiled.unconstrain({"early": np.array(4.2), "late": np.array(1.1)})
    terms = [np.log(1 / len(y)) + sum(stats.poisson.logpmf(y[t], 4.2 if t + 1 < s else 1.1)
                                      for t in range(len(y))) for s in range(1, len(y) + 1)]
    prior = stats.expon.logpdf([4.2, 1.1], scale=2).sum()
    prior_here, likelihood = _parts(compiled, u)
    np.testing.assert_allclose(likelihood, logsumexp(terms), rtol=1e-10)
    np.testing.assert_allclose(prior_here, prior)
    n = 4000
    s = _draws(compiled, u, "s", n)
    exact = np.exp(np.array(terms) - logsumexp(terms))
    _assert_frequencies(np.bincount(s, minlength=len(y) + 1)[1:], exact, n)


def test_prior_draws_of_a_chain_follow_its_transitions():
    """Each prior draw's chain moves by that draw's transition matrix: the number of steps that
    stay in state k, summed over 100 draws of 300 steps, matches sum(n_k * stay[k]) within 4
    binomial standard errors (drawing the states independently from rho fails by far), and the
    first state follows rho."""
    compiled = ppl.model(HMM).compile({"T": 300, "y": np.zeros(300)})
    keys = jax.random.split(jax.random.PRNGKey(0), 100)
    draws = jax.jit(jax.vmap(compiled.prior_draw))(keys)
    z = np.asarray(draws["z"]) - 1
    stay, rho = np.asarray(draws["stay"]), np.asarray(draws["rho"])
    assert z.shape == (100, 300) and set(np.unique(z)) == {0, 1}
    for k in (0, 1):
        at_k = z[:, :-1] == k
        stayed = (at_k & (z[:, 1:] == k)).sum()
        n = at_k.sum(axis=1)
        expected, variance = (n * stay[:, k]).sum(), (n * stay[:, k] * (1 - stay[:, k])).sum()
        assert abs(stayed - expected) < 4 * np.sqrt(variance), (k, stayed, expected)
    first = (z[:, 0] == 0).astype(float)
    assert abs(first.sum() - rho[:, 0].sum()) < 4 * np.sqrt((rho[:, 0] * rho[:, 1]).sum())


def test_sampling_a_mixture_reports_labels_and_generated_quantities():
    model = ppl.model(MIXTURE + """
generated y_rep[n] ~ normal(mu[z[n]], sigma[z[n]]) for n in 1:N
generated log_lik[n] = normal_lpdf(y[n], mu[z[n]], sigma[z[n]]) for n in 1:N
generated gap = mu[2] - mu[1]
""")
    data = _mixture_data()
    fit = model.sample(data, chains=2, draws=200, warmup=200, seed=1,
                       var_names=["z", "y_rep", "log_lik"])  # 40 values each: asked for
    post = fit["posterior"]
    assert {"z", "y_rep", "log_lik", "gap"} <= set(post.data_vars)
    assert post["z"].dims[-1] == "N" and post["z"].shape == (2, 200, 40)
    np.testing.assert_allclose(post["gap"], post["mu"].sel(mu_dim_0=2) - post["mu"].sel(
        mu_dim_0=1))
    # The data were simulated with 30 % of points in the low component: the labels find them.
    # Labels and replicates are drawn after sampling: not part of R-hat / ESS warnings.
    assert set(fit.attrs["drawn_after_sampling"].split(",")) == {"z", "y_rep", "log_lik", "gap"}
    from ppl.summary import sampler_warnings
    assert not any("z[" in note or "y_rep" in note for note in sampler_warnings(fit))
    low = np.asarray(data["y"]) < -0.5
    share_low = np.asarray(post["z"] == 1).mean(axis=(0, 1))
    assert share_low[low].mean() > 0.8 and share_low[~low].mean() < 0.2


def test_generated_quantities_stay_out_of_the_log_density():
    data = _mixture_data()
    plain = ppl.model(MIXTURE_BY_HAND).compile(data)
    with_generated = ppl.model(MIXTURE_BY_HAND + """
generated y_rep[n] ~ normal(mu[1], sigma[1]) for n in 1:N
generated k ~ poisson(3)
generated mean_y = mean(y)
""").compile(data)
    assert with_generated.dimension == plain.dimension
    for u in _points(plain, 2):
        assert float(jax.jit(with_generated.log_density)(u)) == float(
            jax.jit(plain.log_density)(u))
    values = with_generated.generated(_points(plain, 1)[0], jax.random.PRNGKey(2))
    assert values["y_rep"].shape == (40,) and values["k"].dtype.kind == "i"
    np.testing.assert_allclose(values["mean_y"], np.mean(data["y"]))


@pytest.mark.parametrize("source", [MIXTURE, HMM])
def test_models_with_discrete_latents_round_trip_through_the_printer(source):
    from ppl.frontend.parse import parse
    from ppl.frontend.pretty import program
    from ppl.source import Source

    tree = parse(Source(source))
    assert parse(Source(program(tree))) == tree
