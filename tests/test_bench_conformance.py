"""The hand-written NumPyro conformance models (benchmarks/handwritten_conformance.py) are the
same models as the DSL's tests/conformance/models/*.ppl, so that bench_conformance.py compares
like with like: the same latent variables on the same unconstrained space, the same log density
up to a constant (Jacobians included), the same values of the kit's reference parameters.
No sampling: a few log-density evaluations per model."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from numpyro.infer.util import constrain_fn, potential_energy

import ppl

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_conformance import cases, load_case  # noqa: E402
from benchmarks.bench_core import KIT, hand_kwargs, stan_names  # noqa: E402
from benchmarks.handwritten_conformance import MODELS  # noqa: E402


def test_every_conformance_model_has_a_hand_written_version():
    assert sorted(MODELS) == sorted({name.partition(":")[0] for name in cases()})


@pytest.mark.filterwarnings("ignore:.*data entries not used")  # the kit's files hold extras
@pytest.mark.parametrize("name", cases())
def test_hand_written_model_equals_dsl_model(name):
    if not (KIT / "posteriors" / name.partition(":")[0]).is_dir():
        pytest.skip(f"conformance kit not found at {KIT} (set PPL_CONFORMANCE_DIR)")
    case = load_case(name)
    compiled = ppl.load(case.model_path).compile(case.data)
    model = MODELS[case.posterior]  # every formulation of a posterior has the same model
    kwargs = hand_kwargs(model, case.data)

    def by_name(u):
        """The DSL's flat unconstrained vector as NumPyro's {site: unconstrained value}."""
        return {b.name: u[b.offset:b.offset + b.size].reshape(b.unconstrained_shape)
                for b in compiled.blocks}

    # The reference parameters include deterministic quantities (theta, f): compare those too.
    recorded = {p.split("[")[0] for p in case.reference_names}

    # One compiled function per side; outputs not asked for (e.g. an ODE solution) are dropped.
    @jax.jit
    def dsl(u):
        generated = compiled.generated(u)
        return compiled.log_density(u), {n: generated[n] for n in recorded}

    @jax.jit
    def hand(params):
        latents = constrain_fn(model, (), kwargs, params)
        everything = constrain_fn(model, (), kwargs, params, return_deterministic=True)
        return (-potential_energy(model, (), kwargs, params), latents,
                {n: everything[n] for n in recorded})

    keys = jax.random.split(jax.random.PRNGKey(20261124), 3)
    points = [compiled.initial_point(k, radius=1.0) for k in keys]
    dsl_out = [dsl(u) for u in points]
    # Hand-written NumPyro code (and NumPyro itself, e.g. MixtureSameFamily) broadcasts the
    # NumPy way; the strict rank promotion of conftest.py is meant for the DSL's code.
    with jax.numpy_rank_promotion("allow"):
        hand_out = [hand(by_name(u)) for u in points]

    # The same latent variables on both sides.
    assert set(hand_out[0][1]) == set(compiled.latent_names)
    # The same log density up to a constant: the differences between points agree (the sides
    # may differ by normalising constants of truncated or flat priors, never by a function of
    # the parameters). Both include the log-Jacobian of the same unconstraining transforms.
    dsl_values = np.array([float(out[0]) for out in dsl_out])
    hand_values = np.array([float(out[0]) for out in hand_out])
    assert np.all(np.isfinite(dsl_values)) and np.all(np.isfinite(hand_values))
    scale = np.max(np.abs(dsl_values))
    np.testing.assert_allclose(hand_values[1:] - hand_values[0], dsl_values[1:] - dsl_values[0],
                               rtol=0, atol=1e-9 * scale + 1e-9)
    # The same values of every reference parameter, which bench_conformance compares.
    for dsl_point, hand_point in zip(dsl_out, hand_out):
        dsl_flat = stan_names({k: np.asarray(v)[None, None] for k, v in dsl_point[1].items()})
        hand_flat = stan_names({k: np.asarray(v)[None, None] for k, v in hand_point[2].items()})
        for param in case.reference_names:
            np.testing.assert_allclose(hand_flat[param], dsl_flat[param], rtol=1e-9,
                                       atol=1e-12, err_msg=param)
