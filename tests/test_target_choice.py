"""``target_accept="auto"``: the warm-up raises the target acceptance rate where its sampler
diverges often (ppl/backends/target_choice.py), and only then."""

from __future__ import annotations

import numpy as np
import pytest
from mcse_support import moment_errors

import ppl
from ppl.backends import hmc_chains, target_choice
from ppl.backends.target_choice import (
    DIVERGENCE_RATE,
    RAISED_TARGET_ACCEPT,
    choose_target,
    judged_windows,
)

# A funnel: the neck needs a smaller step than the mouth, so NUTS at 0.8 diverges often. Its
# judged windows diverged in 18-28 of 300 iterations (2 chains, seeds 0-4, JAX 0.12.0.1 and
# 0.12.1) against a limit of 10.5; Neal's x: vector[2] ~ normal(0, exp(v / 2)) was too near it.
FUNNEL = """
v ~ normal(0, 3)
x ~ normal(0, exp(v))
"""

INDEPENDENT = """
data s: real[5]
x: vector[5] ~ normal(0, s)
"""
SCALES = np.array([0.1, 0.5, 1.0, 3.0, 10.0])


def test_the_rule_raises_above_the_rate_only():
    assert not choose_target(0, 1200).raised
    assert not choose_target(int(DIVERGENCE_RATE * 1200), 1200).raised
    raised = choose_target(int(DIVERGENCE_RATE * 1200) + 1, 1200)
    assert raised.raised and raised.target_accept == RAISED_TARGET_ACCEPT
    assert raised.note.startswith(f"{RAISED_TARGET_ACCEPT} (raised from 0.8: 43 of 1200")
    assert not choose_target(0, 0).raised  # nothing judged: nothing raised


def test_the_judged_windows_leave_the_first_and_the_last_where_they_can():
    # counted from the end (1: the last window); the choice is made after the last judged one
    assert judged_windows(0) == ()
    assert judged_windows(1) == (1,) and judged_windows(2) == (1,)
    assert judged_windows(3) == (2,)  # the one before the penultimate is the first
    assert judged_windows(5) == (3, 2) and judged_windows(6) == (3, 2)


def _funnel(**options):
    return ppl.model(FUNNEL).sample({}, chains=4, draws=500, warmup=500, seed=1, **options)


def test_a_diverging_warmup_raises_target_accept_and_a_given_one_is_kept():
    with pytest.warns(ppl.SamplingWarning):
        fit = _funnel()
    assert fit.attrs["target_accept"] == RAISED_TARGET_ACCEPT
    assert "raised from 0.8" in fit.attrs["target_accept_choice"]
    with pytest.warns(ppl.SamplingWarning):
        given = _funnel(target_accept=0.8)
    assert given.attrs["target_accept"] == 0.8 and "target_accept_choice" not in given.attrs


def test_a_quiet_warmup_keeps_the_default():
    fit = ppl.model(INDEPENDENT).sample({"s": SCALES}, chains=4, draws=500, warmup=500, seed=2)
    assert fit.attrs["target_accept"] == 0.8
    assert fit.attrs["target_accept_choice"].startswith("0.8 (kept: ")


@pytest.mark.parametrize("chain_method", ["vectorized", "sequential"])
def test_raised_chains_go_on_in_the_raised_kernel_and_sample_the_posterior(monkeypatch,
                                                                          chain_method):
    """Forced to raise (every rate above the limit): the chains' last chunks run in the
    programs of a kernel adapting to the raised target (NumPyro's adaptation reads it from its
    init kernel, so a new layout is built and continues the same states), and each mean and
    sd of five normals of scales 0.1-10 is within 4.5 Monte Carlo standard errors. (The mean
    acceptance while sampling does not tell the targets apart here: 0.90 at 0.8, 0.93 at
    0.9.)"""
    monkeypatch.setattr(target_choice, "DIVERGENCE_RATE", -1.0)
    advanced_at: list[float] = []
    build = hmc_chains._layout

    def spying_layout(log_density, config, *args):
        layout = build(log_density, config, *args)
        advance = layout.advance

        def spied(*a, **k):
            advanced_at.append(config.target_accept)
            return advance(*a, **k)
        layout.advance = spied
        return layout

    monkeypatch.setattr(hmc_chains, "_layout", spying_layout)
    fit = ppl.model(INDEPENDENT).sample({"s": SCALES}, chains=4, draws=1000, warmup=500,
                                        seed=3, chain_method=chain_method)
    assert fit.attrs["target_accept"] == RAISED_TARGET_ACCEPT
    assert advanced_at[0] == 0.8 and advanced_at[-1] == RAISED_TARGET_ACCEPT
    assert advanced_at.count(RAISED_TARGET_ACCEPT) >= 2  # the last window's and sampling's
    mean_error, sd_error = moment_errors(fit, "x", 0.0, SCALES)
    assert mean_error < 4.5 and sd_error < 4.5, (mean_error, sd_error)


def test_a_resumed_fit_keeps_the_target_its_step_sizes_were_adapted_to():
    model = ppl.model(FUNNEL)
    with pytest.warns(ppl.SamplingWarning):
        fit = model.sample({}, chains=4, draws=200, warmup=500, seed=1)
        more = model.resume(fit, draws=100)
    assert fit.attrs["target_accept"] == RAISED_TARGET_ACCEPT
    assert more.attrs["target_accept"] == RAISED_TARGET_ACCEPT
    assert more.attrs["target_accept_choice"] == fit.attrs["target_accept_choice"]
