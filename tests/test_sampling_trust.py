"""Sampling that never fails silently: starts with a finite gradient, non-finite energies as
divergences, unhealthy chains recovered at the end of warm-up, warnings that reach Python,
Ctrl-C that keeps the draws, and fits that can be resumed."""

from __future__ import annotations

import json
import os
import signal
import time
import warnings
from contextlib import contextmanager

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from numpyro.infer.hmc_util import euclidean_kinetic_energy

import ppl
from ppl.backends import hmc_chains
from ppl.backends.base import finite_initial_points
from ppl.backends.hmc_chains import (
    KernelConfig,
    guarded_kinetic_energy,
    guarded_potential,
    interruptible,
    run_chains,
    unhealthy_chains,
)
from ppl.model import MAX_SEED

# The log-density of l is finite everywhere, but its gradient is NaN wherever exp(-1000 l^2)
# underflows to 0 (l > 0.86): sqrt's derivative is infinite there, times 0.
NAN_GRADIENT = """
l ~ lognormal(0, 1)
target += sqrt(exp(-1000 * square(l)))
"""


def _sample(model, data=None, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.sample(data or {}, **kwargs)
    return fit, caught


def test_starting_points_need_a_finite_gradient():
    compiled = ppl.model(NAN_GRADIENT).compile({})
    points = np.asarray(finite_initial_points(compiled, jax.random.PRNGKey(1), 16))
    gradients = jax.vmap(jax.grad(compiled.log_density))(jnp.asarray(points))
    assert np.all(np.isfinite(np.asarray(gradients)))


def test_no_chain_stays_at_a_start_with_a_nan_gradient():
    # Before: chains 1, 3 and 4 sat at their starting values with step size ~1e-196.
    fit, _ = _sample(ppl.model(NAN_GRADIENT), chains=4, draws=300, warmup=300, seed=1)
    values = np.asarray(fit.posterior["l"])
    moved = np.mean(values[:, 1:] != values[:, :-1], axis=1)
    assert np.all(moved > 0.5), moved
    assert np.all(np.asarray(fit.sample_stats["step_size"])[:, -1] > 1e-3)


def test_a_start_without_a_finite_gradient_anywhere_is_a_located_error():
    source = "x ~ normal(0, 1)\ntarget += sqrt(0 * x)\n"
    with pytest.raises(ppl.SamplingError) as raised:
        ppl.model(source).sample({}, chains=1, draws=10, warmup=10)
    text = str(raised.value)
    assert "<string>:2:1" in text and "gradient" in text and "^" in text


def test_kinetic_energy_that_overflows_is_infinite_not_minus_infinite():
    inverse_mass = jnp.array([[1.0, -0.9], [-0.9, 1.0]])
    r = jnp.array([1e200, 2e200])
    assert float(euclidean_kinetic_energy(inverse_mass, r)) == -np.inf  # NumPyro's
    assert float(guarded_kinetic_energy(inverse_mass, r)) == np.inf
    assert float(guarded_kinetic_energy(jnp.ones(2), jnp.array([np.nan, 1.0]))) == np.inf


def test_kinetic_energy_agrees_with_the_quadratic_form_where_it_is_finite():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 4))
    inverse_mass = a @ a.T + 4 * np.eye(4)
    for r in rng.standard_normal((5, 4)) * np.array([[1e-3], [1], [10], [1e5], [1e100]]):
        expected = 0.5 * r @ inverse_mass @ r
        assert float(guarded_kinetic_energy(jnp.asarray(inverse_mass), jnp.asarray(r))) == \
            pytest.approx(expected, rel=1e-12)
    diagonal = np.array([0.5, 2.0, 3.0, 1.0])
    r = rng.standard_normal(4)
    assert float(guarded_kinetic_energy(jnp.asarray(diagonal), jnp.asarray(r))) == \
        pytest.approx(0.5 * np.sum(diagonal * r * r), rel=1e-12)
    assert float(guarded_kinetic_energy(jnp.asarray(diagonal), jnp.zeros(4))) == 0.0


def test_potential_of_nan_or_infinite_log_density_is_plus_infinity():
    for value in (np.nan, np.inf):
        assert float(guarded_potential(lambda u, v=value: jnp.sum(u) * 0 + v)(
            jnp.zeros(1))) == np.inf
    assert float(guarded_potential(lambda u: -jnp.sum(u ** 2))(jnp.ones(2))) == 2.0


def _stuck_beyond_three(u):
    """A standard normal whose gradient is NaN where u > 3 (the value stays finite): a chain
    started there cannot move."""
    x = u[0]
    return -0.5 * x ** 2 + jnp.sqrt(jnp.where(x > 3, 0.0 * x, 1.0))


def test_a_chain_that_cannot_move_is_restarted_from_a_healthy_one_and_reported():
    points = jnp.array([[0.1], [0.5], [-0.5], [4.0]])
    run = run_chains(_stuck_beyond_three, KernelConfig(dense=False), points,
                     jax.random.PRNGKey(0), warmup=200, draws=300, method="vectorized")
    assert run.recovered and run.recovered[0][0] == 4
    assert any("chain 4 was restarted" in note for note in run.notes)
    z = run.draws["z"][..., 0]
    assert np.all(np.mean(z[:, 1:] != z[:, :-1], axis=1) > 0.5)  # every chain moves now
    assert abs(z[3].mean()) < 0.5 and 0.6 < z[3].std() < 1.4


def test_without_recovery_that_chain_would_be_stuck(monkeypatch):
    # The same run with the health check disabled: the recovery above is what fixed it.
    monkeypatch.setattr(hmc_chains, "unhealthy_chains", lambda *args: [])
    points = jnp.array([[0.1], [0.5], [-0.5], [4.0]])
    run = run_chains(_stuck_beyond_three, KernelConfig(dense=False), points,
                     jax.random.PRNGKey(0), warmup=200, draws=300, method="vectorized")
    z = run.draws["z"][..., 0]
    assert np.mean(z[3, 1:] != z[3, :-1]) < 0.1


def test_sequential_chains_are_recovered_too():
    points = jnp.array([[0.1], [4.0]])
    run = run_chains(_stuck_beyond_three, KernelConfig(dense=False), points,
                     jax.random.PRNGKey(0), warmup=150, draws=100, method="sequential")
    assert run.recovered == ((2, 1),)


def test_a_warmup_too_short_to_judge_restarts_no_chain():
    """One warm-up iteration (a quick trial run, or the start-up benchmarks) says nothing of
    a chain's health: a chain that did not move in it is not restarted, nor warned about."""
    points = jnp.array([[0.1], [0.5], [-0.5], [4.0]])
    run = run_chains(_stuck_beyond_three, KernelConfig(dense=False), points,
                     jax.random.PRNGKey(0), warmup=1, draws=5, method="vectorized")
    assert not run.recovered and not any("restarted" in note for note in run.notes)


def test_health_check_rules():
    moved = np.ones((4, 50), dtype=bool)
    assert unhealthy_chains(np.array([0.3, 0.4, 0.35, 0.002]), moved)[0][0] == 3
    assert unhealthy_chains(np.array([0.3, 0.4, 0.35, 0.1]), moved) == []
    moved[1, 5:] = False
    assert [c for c, _ in unhealthy_chains(np.array([0.3, 0.4, 0.35, 0.3]), moved)] == [1]


def test_a_lone_unhealthy_chain_is_reported_not_hidden():
    run = run_chains(_stuck_beyond_three, KernelConfig(dense=False), jnp.array([[4.0]]),
                     jax.random.PRNGKey(0), warmup=100, draws=50, method="vectorized")
    assert not run.recovered
    assert any("do not trust this fit" in note for note in run.notes)


EIGHT_SCHOOLS_CENTRED = """
data J: int >= 1
data y: real[J]
data sigma: real[J] > 0
mu ~ normal(0, 5)
tau ~ half_cauchy(5)
theta: vector[J] ~ normal(mu, tau)
y ~ normal(theta, sigma)
"""
EIGHT = {"J": 8, "y": [28.0, 8, -3, 7, -1, 1, 18, 12],
         "sigma": [15.0, 10, 16, 11, 9, 11, 10, 18]}


def test_sampling_warnings_reach_python_and_are_recorded():
    fit, caught = _sample(ppl.model(EIGHT_SCHOOLS_CENTRED), EIGHT, chains=2, draws=300,
                          warmup=300, seed=3)
    issued = [str(w.message) for w in caught if issubclass(w.category, ppl.SamplingWarning)]
    recorded = json.loads(fit.attrs["warnings"])
    assert issued and issued == recorded
    # the centred funnel is flagged: by divergences, or (depending on the seed's adaptation)
    # by the energy and the chains' disagreement
    assert any(sign in note for note in recorded for sign in ("diverged", "E-BFMI", "R-hat"))
    assert recorded == ppl.summary.sampler_warnings(fit)


def test_check_warnings_are_shown_once_per_model():
    model = ppl.model("data N: int\nmu ~ normal(0, 1)\n")  # N is never used
    _, first = _sample(model, {"N": 3}, chains=1, draws=50, warmup=50)
    _, second = _sample(model, {"N": 3}, chains=1, draws=50, warmup=50)
    checks = [str(w.message) for w in first if issubclass(w.category, ppl.ModelWarning)]
    assert len(checks) == 1 and "<string>:1:" in checks[0] and "never used" in checks[0]
    assert not [w for w in second if issubclass(w.category, ppl.ModelWarning)]


def test_stuck_chain_in_the_draws_is_a_warning():
    from ppl.summary import sampler_warnings

    fit, _ = _sample(ppl.model("x ~ normal(0, 1)"), chains=2, draws=100, warmup=100)
    stuck = fit.copy()
    values = np.asarray(stuck.posterior["x"]).copy()
    values[1] = values[1, 0]
    stuck["posterior"] = xr.DataTree(
        fit.posterior.to_dataset().assign(x=(("chain", "draw"), values)))
    assert any("chain 2 is stuck" in note for note in sampler_warnings(stuck))
    assert not any("stuck" in note for note in sampler_warnings(fit))


@contextmanager
def _stop_at_once():
    yield lambda: True


def test_an_interrupted_run_keeps_its_draws_and_can_be_resumed(monkeypatch):
    # Stopped after the first chunk (warmup=0: the first chunk is already sampling).
    monkeypatch.setattr(hmc_chains, "interruptible", _stop_at_once)
    model = ppl.model("x ~ normal(3, 2)")
    fit, caught = _sample(model, chains=2, draws=5000, warmup=0, seed=4)
    kept = fit.posterior.sizes["draw"]
    assert 0 < kept < 5000 and fit.attrs["partial"] == 1
    assert any("interrupted" in str(w.message) for w in caught)
    monkeypatch.undo()
    more, _ = _sample_resume(model, fit, draws=2000)
    assert more.posterior.sizes["draw"] == kept + 2000 and "partial" not in more.attrs
    assert more.sample_stats.sizes["draw"] == kept + 2000
    x = np.asarray(more.posterior["x"])
    np.testing.assert_array_equal(x[:, :kept], np.asarray(fit.posterior["x"]))
    assert abs(x.mean() - 3) < 0.4 and abs(x.std() - 2) < 0.4


def test_resume_continues_with_the_adapted_sampler_and_no_new_warmup():
    model = ppl.model("data y: real[3]\nmu ~ normal(0, 5)\ny ~ normal(mu, 1)\n")
    data = {"y": [1.0, 2.0, 4.0]}
    fit, _ = _sample(model, data, chains=2, draws=300, warmup=300, seed=5,
                     posterior_predictive=True)
    more = model.resume(fit, data, draws=200, posterior_predictive=False)
    steps = np.asarray(more.sample_stats["step_size"])
    np.testing.assert_allclose(steps[:, 300:], steps[:, 299:300] * np.ones((1, 200)))
    assert more.attrs["seed"] == 6
    assert more.posterior.sizes["draw"] == 500 and "sampler_state" in more.children
    assert "posterior_predictive" not in more.children  # not left shorter than the posterior
    again = model.resume(fit, data, draws=200)  # groups the fit has are extended by default
    assert again.posterior_predictive.sizes["draw"] == 500


def _sample_resume(model, fit, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        return model.resume(fit, {}, **kwargs), caught


def test_interrupted_during_warmup_is_a_keyboard_interrupt(monkeypatch):
    monkeypatch.setattr(hmc_chains, "interruptible", _stop_at_once)
    with pytest.raises(KeyboardInterrupt):
        ppl.model("x ~ normal(0, 1)").sample({}, chains=1, draws=100, warmup=5000)


def test_first_ctrl_c_raises_a_flag_and_the_second_interrupts():
    # A signal sent to the process may reach another thread (JAX runs several); Python runs
    # the handler in the main thread soon after, not necessarily before os.kill returns.
    before = signal.getsignal(signal.SIGINT)
    with interruptible() as stop_requested:
        assert not stop_requested()
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 10
        while not stop_requested() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stop_requested()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(10)  # interrupted by the handler long before the end
    assert signal.getsignal(signal.SIGINT) is before  # restored


def test_resume_refuses_fits_it_cannot_continue():
    model = ppl.model("x ~ normal(0, 1)")
    fit, _ = _sample(model, backend="map", chains=1, draws=10)
    with pytest.raises(ppl.SamplingError, match="cannot be resumed"):
        model.resume(fit, {})


def test_resume_checks_its_seed_and_wraps_the_default():
    model = ppl.model("x ~ normal(0, 1)")
    fit, _ = _sample(model, chains=1, draws=20, warmup=20, seed=MAX_SEED)
    with pytest.raises(ppl.SamplingError, match="seed must be an integer"):
        model.resume(fit, {}, draws=10, seed=-1)
    more = model.resume(fit, {}, draws=10)  # the default seed after 2^32 - 1 is 0
    assert more.attrs["seed"] == 0
