"""NUTS and HMC options, HMC on a conjugate posterior, and LOO and az.compare on MCMC
results (ArviZ 1.x has no WAIC)."""

import arviz as az
import numpy as np
import pytest
from model_text import NORMAL_MEAN_MODEL, NORMAL_POSTERIOR_MEAN, NORMAL_POSTERIOR_SD, NORMAL_Y

import ppl

NORMAL, Y = NORMAL_MEAN_MODEL, NORMAL_Y


def _closed_form():
    return NORMAL_POSTERIOR_MEAN, NORMAL_POSTERIOR_SD


def test_hmc_recovers_the_conjugate_normal_posterior_within_mcse():
    fit = ppl.model(NORMAL).sample({"N": len(Y), "y": Y}, backend="hmc", seed=3)
    draws = fit["posterior"]["mu"]
    ess = float(az.ess(draws, method="mean"))
    mean, sd = _closed_form()
    mcse = float(draws.std()) / np.sqrt(ess)
    assert abs(float(draws.mean()) - mean) < 4.5 * mcse
    # sd of the draws: its standard error is about sd / sqrt(2 ess) for a normal posterior
    assert abs(float(draws.std()) - sd) < 4.5 * sd / np.sqrt(2 * ess)
    assert ess > 400


CORRELATED = "x: vector[2] ~ multi_normal([0, 0], [[1, 0.99], [0.99, 1]])\n"


def _correlated_fit(**options):
    return ppl.model(CORRELATED).sample({}, chains=2, draws=200, warmup=300, seed=8, **options)


def test_nuts_options_change_the_run_and_are_recorded():
    """Each option is seen in what the sampler did, not only in the attributes: a correlated
    Gaussian needs deep trees with a diagonal metric, so max_tree_depth=2 caps them; a dense
    metric learns the correlation (and needs shallow trees); a higher target_accept adapts a
    smaller step size."""
    free = _correlated_fit(dense_mass=False, target_accept=0.6)
    capped = _correlated_fit(dense_mass=False, target_accept=0.6, max_tree_depth=2)
    careful = _correlated_fit(dense_mass=False, target_accept=0.99)
    dense = _correlated_fit(dense_mass=True, target_accept=0.6)
    depth = {name: np.asarray(fit["sample_stats"]["tree_depth"])
             for name, fit in [("free", free), ("capped", capped), ("dense", dense)]}
    assert depth["free"].max() >= 4 and depth["capped"].max() <= 2
    assert np.asarray(capped["sample_stats"]["n_steps"]).max() <= 3
    assert depth["dense"].mean() < depth["free"].mean() - 1
    metric = np.asarray(dense["sampler_state"]["inverse_mass_matrix"])[0]
    assert metric.shape == (2, 2) and metric[0, 1] / np.sqrt(metric[0, 0] * metric[1, 1]) > 0.9
    assert np.asarray(free["sampler_state"]["inverse_mass_matrix"]).shape[1:] == (2,)
    step = {name: float(np.median(np.asarray(fit["sampler_state"]["step_size"])))
            for name, fit in [("free", free), ("careful", careful)]}
    assert step["careful"] < 0.5 * step["free"]
    assert np.asarray(careful["sample_stats"]["acceptance_rate"]).mean() > 0.9
    assert (capped.attrs["target_accept"], capped.attrs["max_tree_depth"],
            capped.attrs["dense_mass"]) == (0.6, 2, 0)


def test_the_dense_metric_is_the_default_up_to_200_dimensions():
    from ppl.backends.nuts import DENSE_MASS_MAX_DIMENSION, dense_metric

    assert DENSE_MASS_MAX_DIMENSION == 200
    assert dense_metric("auto", 200) and not dense_metric("auto", 201)
    metric = np.asarray(_correlated_fit()["sampler_state"]["inverse_mass_matrix"])
    assert metric.shape == (2, 2, 2)  # (chains, 2, 2): dense by default at dimension 2


def test_loo_and_compare_work_on_nuts_results_with_pointwise_log_likelihood():
    fit = ppl.model(NORMAL).sample({"N": len(Y), "y": Y}, chains=2, draws=500, warmup=500,
                                   log_likelihood=True)
    # A model whose noise sd is far too small predicts the data worse: az.compare ranks it
    # second, by the same pointwise log-likelihood.
    narrow = ppl.model(NORMAL.replace("1.5", "0.3")).sample(
        {"N": len(Y), "y": Y}, chains=2, draws=500, warmup=500, log_likelihood=True)
    ranking = az.compare({"right": fit, "narrow": narrow})
    assert list(ranking.index) == ["right", "narrow"]
    assert fit["log_likelihood"]["y"].shape == (2, 500, len(Y))
    loo = az.loo(fit)
    assert np.isfinite(loo.elpd) and loo.n_data_points == len(Y)
    # the pointwise log-likelihood is the model's own: a normal density with sd 1.5
    mu = fit["posterior"]["mu"].values[..., None]
    expected = -0.5 * ((Y - mu) / 1.5) ** 2 - np.log(1.5 * np.sqrt(2 * np.pi))
    assert np.allclose(fit["log_likelihood"]["y"].values, expected)


def test_unknown_backend_is_a_clean_error():
    with pytest.raises(ppl.SamplingError, match="unknown backend 'nutz'"):
        ppl.model(NORMAL).sample({"N": len(Y), "y": Y}, backend="nutz")


def test_prior_initialisation_starts_around_the_prior_median():
    from ppl.backends.base import initial_points

    compiled = ppl.model("x ~ normal(100, 1)\ns ~ lognormal(3, 0.1)").compile({})
    import jax

    points = np.asarray(initial_points(compiled, jax.random.PRNGKey(0), 4, init="prior"))
    assert points.shape == (4, 2)
    assert np.all(np.abs(points[:, 0] - 100) < 1.5)   # median ~100, jitter within +-1
    assert np.all(np.abs(points[:, 1] - 3) < 1.2)     # log s: median ~3 on the log scale
    uniform = np.asarray(initial_points(compiled, jax.random.PRNGKey(0), 4))
    assert np.all(np.abs(uniform) <= 2)
    with pytest.raises(ppl.SamplingError, match="unknown init"):
        initial_points(compiled, jax.random.PRNGKey(0), 4, init="zeros")


def test_a_start_with_no_finite_log_density_names_the_statement():
    src = "data y: real\nmu ~ normal(0, 1)\ny ~ uniform(mu - 10, mu - 5)\n"
    with pytest.raises(ppl.SamplingError) as info:
        ppl.model(src, "m.ppl").sample({"y": 2.0}, chains=1, draws=10, warmup=10)
    message = str(info.value)
    assert message.startswith("m.ppl:3:1: error: the log-density of this statement is -inf at "
                              "every random starting point tried (e.g. with mu = ")
    assert "y ~ uniform(mu - 10, mu - 5)" in message


def test_sampler_warnings_report_divergences_and_low_ess():
    from ppl.summary import sampler_warnings

    funnel = """
tau ~ half_cauchy(5)
theta: vector[8] ~ normal(0, tau)
"""
    # the dense metric and target_accept 0.8: with them this seed's funnel diverges (with the
    # diagonal one that the warm-up chooses here it is flagged for R-hat, E-BFMI and ESS
    # instead; at the 0.9 that "auto" raises it to, for tree depth, E-BFMI and ESS)
    fit = ppl.model(funnel).sample({}, chains=2, draws=200, warmup=100, seed=1,
                                   dense_mass=True, target_accept=0.8)
    notes = " ".join(sampler_warnings(fit))
    assert "diverged" in notes and "target_accept" in notes
    assert "low effective sample size" in notes


def test_hmc_num_steps_and_trajectory_length_set_the_leapfrog_steps():
    data = {"N": len(Y), "y": Y}
    fixed = ppl.model(NORMAL).sample(data, backend="hmc", chains=1, draws=50, warmup=50,
                                     num_steps=7)
    assert set(np.unique(fixed["sample_stats"]["n_steps"])) == {7}
    long = ppl.model(NORMAL).sample(data, backend="hmc", chains=1, draws=50, warmup=50,
                                    trajectory_length=3.0)
    step = float(np.asarray(long["sampler_state"]["step_size"]).ravel()[0])
    steps = np.unique(long["sample_stats"]["n_steps"])
    assert len(steps) == 1 and steps[0] == int(np.ceil(3.0 / step))


@pytest.mark.parametrize("backend", ["nuts", "hmc"])
def test_single_precision_samples_the_conjugate_normal_posterior_and_resumes(backend):
    """``precision="float32"`` with NUTS or HMC stopped with JAX's "cond branches must have
    equal output types": NumPyro's step size is of JAX's widest float in ppl's 64-bit
    programs, so single-precision positions turned double in the first leapfrog step. The
    chains now move in double precision and the model reads them in its own."""
    data = {"N": len(Y), "y": Y}
    model = ppl.model(NORMAL)
    fit = model.sample(data, backend=backend, precision="float32", chains=2, draws=500,
                       warmup=300, seed=4)
    draws = fit["posterior"]["mu"]
    ess = float(az.ess(draws, method="mean"))
    mean, sd = _closed_form()
    assert ess > 150
    assert abs(float(draws.mean()) - mean) < 4.5 * float(draws.std()) / np.sqrt(ess)
    assert abs(float(draws.std()) - sd) < 4.5 * sd / np.sqrt(2 * ess)
    more = model.resume(fit, data, draws=50, precision="float32")
    assert more["posterior"]["mu"].shape == (2, 550)
