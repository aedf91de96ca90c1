"""Conformance: reference posteriors from the posteriordb-derived kit.

Each posterior's model is written in the language under ``models/<posterior>.ppl`` from the kit's
``model.md``; the kit's data are passed to it unchanged, it is sampled with the default NUTS
settings and a seed fixed in advance, and the kit's own ``check.py`` compares the draws with the
reference (|z| < 5 for every mean and sd within 15 %).

The kit is read at run time, never copied: from ``$PPL_CONFORMANCE_DIR`` if set, otherwise from
``../shared/conformance`` next to the repository. Without it these tests are skipped.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from conformance_kit import load_posterior, reference_names, run_check

POSTERIORS = [
    "eight_schools-eight_schools_noncentered",
    "kidiq-kidscore_momiq",
    "kidiq-kidscore_interaction",
    "earnings-logearn_height",
    "earnings-logearn_interaction_z",
    "diamonds-diamonds",
    "mesquite-logmesquite",
    "nes1972-nes",
    "sblrc-blr",
    "kilpisjarvi_mod-kilpisjarvi",
    # language depth: windows over a series, recursions, constrained types, mixtures
    "arK-arK",
    "garch-garch11",
    "low_dim_gauss_mix-low_dim_gauss_mix",
    "gp_pois_regr-gp_pois_regr",
    "hmm_example-hmm_example",
    # the same two posteriors written with discrete latents, summed out by the compiler
    "low_dim_gauss_mix-low_dim_gauss_mix:discrete",
    "hmm_example-hmm_example:discrete",
    # an ODE solve inside the model. With Stan's uniform(-2, 2) starts some seeds leave a chain
    # in the rough regions far from the data (seed 2: not done after 14 minutes, where seeds 0
    # and 1 take 20 s); the default init="auto" sees the climbs end in different modes and
    # starts the chains from the Laplace approximation at the main one (seeds 0-4 pass)
    "hudson_lynx_hare-lotka_volterra",
]

# Fixed before looking at any result; never changed to make a posterior pass.
SEED = 0
# The project's default NUTS settings.
CHAINS, DRAWS, WARMUP = 4, 1000, 1000
MAX_DIVERGENT_FRACTION = 0.01

pytestmark = [
    pytest.mark.conformance,
    # The kit's data files carry entries some models do not use; the loader says so.
    pytest.mark.filterwarnings("ignore:.*data entries not used by the model"),
]


@pytest.mark.parametrize("name", POSTERIORS)
def test_reference_posterior(name: str, kit: Path, tmp_path: Path, record_property) -> None:
    model, data, reference = load_posterior(kit, name)
    start = time.perf_counter()
    fit = model.sample(data=data, chains=CHAINS, draws=DRAWS, warmup=WARMUP, seed=SEED,
                       var_names=reference_names(reference))
    seconds = time.perf_counter() - start
    record_property("sampling_seconds", round(seconds, 1))

    result, summary = run_check(kit, name, fit, tmp_path)
    print(f"{name}: {seconds:.1f} s; {summary}")
    assert result.returncode == 0, (
        f"check.py exited with {result.returncode} for {name} (seed {SEED}, {seconds:.0f} s):\n"
        f"{result.stdout}{result.stderr}")

    diverging = np.asarray(fit["sample_stats"]["diverging"])
    assert diverging.mean() < MAX_DIVERGENT_FRACTION, (
        f"{int(diverging.sum())} of {diverging.size} draws diverged for {name}")


@pytest.mark.parametrize("name", ["low_dim_gauss_mix-low_dim_gauss_mix",
                                  "hmm_example-hmm_example"])
def test_discrete_formulation_has_the_explicit_density(name: str, kit: Path) -> None:
    """The model written with discrete latents (summed out by the compiler) and the one written
    with log_mix / log_sum_exp by hand differ by a constant only, at any parameter values: the
    same posterior, not just one that passes the check."""
    import jax

    explicit, data, _ = load_posterior(kit, name)
    discrete, _, _ = load_posterior(kit, f"{name}:discrete")
    by_hand, summed = explicit.compile(data), discrete.compile(data)
    differences = []
    for seed in range(5):
        u = by_hand.initial_point(jax.random.PRNGKey(seed))
        v = summed.unconstrain(by_hand.constrain(u))
        differences.append(float(jax.jit(summed.log_density)(v) - jax.jit(by_hand.log_density)(u)))
    np.testing.assert_allclose(differences, differences[0], atol=1e-8)
