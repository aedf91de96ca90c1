"""ppl's random keys, computed on the host (:mod:`ppl.backends.keys`), are ``jax.random``'s."""

import jax
import numpy as np
import pytest

from ppl.backends import keys

SEEDS = [0, 1, 2, 7, 4713, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 5, 2**40 + 3,
         2**63 - 1, -1, -2, -2**40]


@pytest.mark.parametrize("seed", SEEDS)
def test_seeds_splits_and_folds_are_jax_randoms(seed):
    key = keys.seed_key(seed)
    reference = jax.random.PRNGKey(seed)
    np.testing.assert_array_equal(key, np.asarray(reference))
    for count in (1, 2, 3, 4, 5, 8, 9, 17):
        np.testing.assert_array_equal(keys.split(key, count),
                                      np.asarray(jax.random.split(reference, count)))
    for data in (0, 1, 2, 7, 2**32 - 1):
        np.testing.assert_array_equal(keys.fold_in(key, data),
                                      np.asarray(jax.random.fold_in(reference, data)))


def test_a_typed_key_is_taken_by_its_words():
    typed = jax.random.key(11)
    np.testing.assert_array_equal(keys.split(typed, 3),
                                  np.asarray(jax.random.key_data(jax.random.split(typed, 3))))


def test_split_follows_jax_when_the_process_turned_off_partitionable_threefry():
    jax.config.update("jax_threefry_partitionable", False)
    try:
        key = keys.seed_key(3)
        np.testing.assert_array_equal(keys.split(key, 4),
                                      np.asarray(jax.random.split(jax.random.PRNGKey(3), 4)))
    finally:
        jax.config.update("jax_threefry_partitionable", True)


def test_the_fits_results_draw_their_keys_on_the_host(monkeypatch):
    """After the chains, the fit's generated quantities and posterior predictive draws take
    their keys from :func:`keys.split` (the same keys): JAX's split compiled two programs on
    the way to the fit (0.2 s, cold). A call of ``jax.random.split`` after the chains, outside
    a traced program, fails this test."""
    import ppl
    from ppl.backends import nuts

    split = jax.random.split

    def forbidden(key, *args, **kwargs):
        if not isinstance(key, jax.core.Tracer):
            raise AssertionError("jax.random.split called on the host after the chains")
        return split(key, *args, **kwargs)

    run_chains = nuts.run_chains

    def then_forbid(*args, **kwargs):
        run = run_chains(*args, **kwargs)
        monkeypatch.setattr(jax.random, "split", forbidden)
        return run

    monkeypatch.setattr(nuts, "run_chains", then_forbid)
    model = ppl.model("""
data y: real[3]
mu ~ normal(0, 10)
y ~ normal(mu, 1)
generated z ~ normal(mu, 1)
""")
    fit = model.sample({"y": [0.1, 0.5, 0.3]}, chains=2, draws=5, warmup=20, seed=3,
                       posterior_predictive=True)
    assert fit["posterior"]["z"].shape == (2, 5)
    assert fit["posterior_predictive"]["y"].shape == (2, 5, 3)
