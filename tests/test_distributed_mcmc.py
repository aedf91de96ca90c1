"""The data-distributed backends ``consensus`` and ``split_gibbs`` (ppl/backends/consensus.py,
ppl/backends/split_gibbs.py, their sharding in ppl/backends/sharding.py).

A linear regression with known noise has a Gaussian posterior in closed form: consensus Monte
Carlo is exact for it, and the split Gibbs sampler with its Gaussian bias correction too, so
both are checked against the closed form within Monte Carlo standard errors (ArviZ's MCSE of
the mean and of the sd, 4 of them). A logistic regression is compared with full-data NUTS. The
runs in this process use ``cluster=None``; the run on a real 2-worker ``LocalCluster`` (worker
processes on the loopback interface, as in tests/test_validation.py) is marked slow, since
starting it takes most of a minute on the project's loaded 2-core machine.

Models whose likelihood is not a sum over observations are located errors with golden files in
tests/golden/errors/sharding/ (NAME.ppl, NAME.json its data, NAME.expected the error).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pytest

import ppl
from ppl.backends.consensus import consensus_draws
from ppl.backends.sharding import balanced_blocks, plan_shards, shard_data
from ppl.backends.split_gibbs import correction_map, coupled_precision

SHARDING_ERRORS = Path(__file__).resolve().parent / "golden" / "errors" / "sharding"
CASES = sorted(p.stem for p in SHARDING_ERRORS.glob("*.ppl"))

REGRESSION = """
data N: int
data x: vector[N]
data y: vector[N]
alpha ~ normal(0, 5)
beta ~ normal(0, 5)
y ~ normal(alpha + beta * x, 1)
"""
RNG = np.random.default_rng(7)
N = 60
X = RNG.normal(size=N)
Y = 0.5 - 1.2 * X + RNG.normal(size=N)
DATA = {"N": N, "x": X, "y": Y}


def _exact() -> tuple[np.ndarray, np.ndarray]:
    """The posterior mean and sds of (alpha, beta): conjugate, in closed form."""
    design = np.column_stack([np.ones(N), X])
    precision = design.T @ design + np.eye(2) / 25
    covariance = np.linalg.inv(precision)
    return covariance @ design.T @ Y, np.sqrt(np.diag(covariance))


def _quiet(model, data, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.sample(data, **options)


def _draws(fit) -> np.ndarray:
    return np.stack([np.asarray(fit.posterior[v]).ravel() for v in ("alpha", "beta")], axis=1)


def _assert_matches_exact(fit, sd_factor: float = 1.0):
    mean, sd = _exact()
    draws = _draws(fit)
    for i, name in enumerate(("alpha", "beta")):
        mcse_mean = float(az.mcse(fit.posterior[name], method="mean"))
        mcse_sd = float(az.mcse(fit.posterior[name], method="sd"))
        assert abs(draws[:, i].mean() - mean[i]) < 4 * mcse_mean, name
        assert abs(draws[:, i].std() - sd_factor * sd[i]) < 4 * mcse_sd, name


def test_consensus_is_exact_for_a_gaussian_posterior():
    """Three shards of unequal sizes (20 each here; the sizes differ by at most one): the
    precision-weighted average of the subposteriors' draws is a draw of the posterior."""
    fit = _quiet(ppl.model(REGRESSION), DATA, backend="consensus", shards=3, cluster=None,
                 chains=2, draws=700, warmup=200, seed=3)
    _assert_matches_exact(fit)
    # The same DataTree as the other backends: the whole data, the posterior over chains.
    assert {"posterior", "sample_stats", "observed_data", "constant_data"} <= set(fit.children)
    assert fit.posterior["alpha"].shape == (2, 700)
    assert fit.observed_data["y"].shape == (N,)
    assert fit.attrs["backend"] == "consensus" and fit.attrs["shards"] == 3
    assert fit.attrs["shard_sizes"] == [20, 20, 20] and fit.attrs["split_data"] == "x,y"
    assert fit.attrs["observation_size"] == "N" and fit.attrs["cluster"] == "none"


SPLIT = {"backend": "split_gibbs", "shards": 2, "cluster": None, "chains": 2, "draws": 1000,
         "warmup": 200, "seed": 5}


def test_split_gibbs_recovers_the_gaussian_posterior_with_its_bias_corrected():
    """With rho=1 and 2 shards the coupling inflates the variance by about 1 + 1/2; the
    Gaussian correction undoes it exactly for this posterior. Uncorrected, the sds come out
    about sqrt(1.5) times too large, which the test sees too (the bias_correction option)."""
    fit = _quiet(ppl.model(REGRESSION), DATA, **SPLIT)
    _assert_matches_exact(fit)
    assert abs(fit.attrs["variance_inflation"] - 1.5) < 0.05


def test_split_gibbs_without_bias_correction_has_the_predicted_inflation():
    raw = _quiet(ppl.model(REGRESSION), DATA, bias_correction=False, **SPLIT)
    assert "variance_inflation" not in raw.attrs and raw.attrs["bias_correction"] == 0
    _assert_matches_exact(raw, sd_factor=float(np.sqrt(1.5)))


def test_split_gibbs_rho_sets_the_coupling_and_its_bias():
    """rho is in posterior sds: the predicted variance inflation is 1 + rho^2 / shards."""
    model = ppl.model(REGRESSION)
    for rho in (0.5, 2.0):
        fit = _quiet(model, DATA, backend="split_gibbs", shards=4, cluster=None, rho=rho,
                     chains=1, draws=20, warmup=20)
        assert fit.attrs["rho"] == rho
        assert abs(fit.attrs["variance_inflation"] - (1 + rho ** 2 / 4)) < 0.05 * rho ** 2


def test_split_gibbs_local_steps_are_the_transitions_per_round():
    """One round of a shard's chains from 3 away from a conditional that the coupling pins to
    theta = 0 (within 0.01): HMC's trajectories rotate the chains towards it, so their mean is
    still far after one transition and close after ten. (On the test models one transition
    per round already mixes the near-Gaussian conditionals: lag-1 autocorrelations of 0.68
    and 0.64 with 1 and 8 on the regression, measured; the option is for rougher shards.)"""
    from ppl.backends.shard_worker import ShardTask, local_model
    from ppl.backends.split_worker import ShardChains

    model = local_model(REGRESSION, "regression.ppl")
    task = ShardTask(REGRESSION, "regression.ppl", 0, DATA, 1.0, seed=1, chains=100)
    gap = {}
    for steps in (1, 10):
        chains = ShardChains(task, np.full((100, 2), 3.0), np.eye(2), steps, model)
        chains.set_coupling(1e4 * np.eye(2), restart=True)
        z, accept, _ = chains.step(np.zeros((100, 2)))
        assert accept > 0.5
        gap[steps] = np.linalg.norm(z.mean(axis=0))
    assert gap[1] > 0.5 and gap[10] < 0.2 * gap[1]


@pytest.mark.slow
def test_consensus_matches_full_data_nuts_on_a_logistic_regression():
    """Not Gaussian, but 400 observations per shard make each subposterior nearly so: the
    means and sds agree with full-data NUTS within 0.1 posterior sd."""
    model = ppl.model("""
data N: int
data K: int
data X: matrix[N, K]
data y: int[N]
alpha ~ normal(0, 2)
beta: vector[K] ~ normal(0, 2)
y ~ bernoulli_logit(alpha + X * beta)
""")
    rng = np.random.default_rng(11)
    n = 1600
    x = rng.normal(size=(n, 2))
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(0.3 + x @ [0.8, -0.5])))).astype(int)
    data = {"N": n, "K": 2, "X": x, "y": y}
    options = {"chains": 2, "draws": 1000, "warmup": 400, "seed": 1}
    full = _quiet(model, data, **options)
    split = _quiet(model, data, backend="consensus", shards=4, cluster=None, **options)
    for name in ("alpha", "beta"):
        reference = np.asarray(full.posterior[name]).reshape(-1, *full.posterior[name].shape[2:])
        combined = np.asarray(split.posterior[name]).reshape(reference.shape)
        sd = reference.std(axis=0)
        assert np.all(np.abs(combined.mean(axis=0) - reference.mean(axis=0)) < 0.1 * sd)
        assert np.all(np.abs(combined.std(axis=0) / sd - 1) < 0.1)


def test_consensus_target_accept_sets_the_shards_step_sizes():
    model = ppl.model(REGRESSION)
    sizes = {}
    for target in (0.6, 0.95):
        fit = _quiet(model, DATA, backend="consensus", shards=2, cluster=None, chains=1,
                     draws=50, warmup=150, target_accept=target)
        assert fit.attrs["target_accept"] == target
        sizes[target] = np.mean(fit.attrs["shard_step_size"])
    assert sizes[0.95] < 0.8 * sizes[0.6]


def test_shards_splits_the_observations_into_balanced_blocks():
    assert balanced_blocks(10, 3) == ((0, 4), (4, 7), (7, 10))
    assert balanced_blocks(4, 4) == ((0, 1), (1, 2), (2, 3), (3, 4))
    compiled = ppl.model(REGRESSION).compile({"N": 10, "x": X[:10], "y": Y[:10]})
    plan = plan_shards(compiled, 3)
    assert plan.sizes == (4, 3, 3) and plan.split == ("x", "y") and plan.size_name == "N"
    second = shard_data(compiled, plan, 1)
    assert second["N"] == 3 and np.array_equal(second["x"], X[4:7])


def test_consensus_draws_are_precision_weighted():
    """Two shards with draws of variances 1 and 4 at means 0 and 5: weights 4/5 and 1/5."""
    rng = np.random.default_rng(0)
    first = rng.normal(0, 1, (2, 4000, 1))
    second = 5 + 2 * rng.normal(0, 1, (2, 4000, 1))
    combined = consensus_draws([first, second])
    assert abs(combined.mean() - 1.0) < 0.05
    assert abs(combined.var() - 0.8) < 0.05


def test_the_bias_correction_maps_the_coupled_covariance_to_the_posterior():
    prior = np.diag([0.1, 0.2])
    likelihoods = [np.array([[4.0, 1.0], [1.0, 3.0]]), np.array([[2.0, -0.5], [-0.5, 5.0]])]
    posterior = prior + sum(likelihoods)
    coupling = 0.5 * np.linalg.inv(posterior)
    coupled = coupled_precision(prior, likelihoods, coupling)
    assert np.all(np.linalg.eigvalsh(np.linalg.inv(coupled) - np.linalg.inv(posterior)) > 0)
    a = correction_map(posterior, coupled)
    assert np.allclose(a @ np.linalg.inv(coupled) @ a.T, np.linalg.inv(posterior))


@pytest.mark.parametrize("options, message", [
    ({"shards": 0}, "shards must be an integer >= 1, not 0"),
    ({"shards": 2.5}, "shards must be an integer >= 1"),
    ({"shard": 2}, "did you mean 'shards'"),
    ({"cluster": "my-laptop"}, "cluster must be 'local', a scheduler address"),
    ({"workers": 0}, "workers must be an integer >= 1"),
    ({"workers": 2}, "workers applies to a local cluster only"),
    ({"shards": 61}, "shards=61 is more than the 60 observations (N)"),
])
def test_consensus_option_errors(options, message):
    with pytest.raises(ppl.SamplingError) as info:
        _quiet(ppl.model(REGRESSION), DATA, backend="consensus", **{"cluster": None, **options})
    assert message in str(info.value)


@pytest.mark.parametrize("options, message", [
    ({"rho": 0}, "rho must be a number > 0, not 0"),
    ({"local_steps": 0}, "local_steps must be an integer >= 1"),
    ({"bias_correction": "yes"}, "bias_correction must be true or false"),
    ({"target_accept": 0.9}, "split_gibbs has no option 'target_accept'"),
])
def test_split_gibbs_option_errors(options, message):
    with pytest.raises(ppl.SamplingError) as info:
        _quiet(ppl.model(REGRESSION), DATA, backend="split_gibbs", cluster=None, **options)
    assert message in str(info.value)


def test_the_backends_are_listed():
    backends = ppl.available_backends()
    assert {"consensus", "split_gibbs"} <= set(backends)
    assert "shards=4" in backends["consensus"].description
    assert "rho=1.0" in backends["split_gibbs"].description


@pytest.mark.parametrize("stem", CASES)
@pytest.mark.parametrize("backend", ["consensus", "split_gibbs"])
def test_a_likelihood_that_is_not_a_sum_over_observations_is_a_located_error(
        stem, backend, golden):
    model = ppl.model((SHARDING_ERRORS / f"{stem}.ppl").read_text(), name=f"{stem}.ppl")
    data = json.loads((SHARDING_ERRORS / f"{stem}.json").read_text())
    with pytest.raises(ppl.ModelError) as info:
        _quiet(model, data, backend=backend, shards=2, cluster=None, draws=10, warmup=10)
    golden(SHARDING_ERRORS / f"{stem}.expected", str(info.value) + "\n")
    for diagnostic in info.value.diagnostics:
        assert diagnostic.hint and diagnostic.span.line > 0


def test_there_are_located_error_cases():
    assert {"whole_vector", "recursion", "observed_in_prior", "no_observed",
            "summed_deterministic"} <= set(CASES)


@pytest.mark.slow
def test_a_real_two_worker_cluster_gives_the_draws_of_one_worker():
    """Both backends on a 2-worker LocalCluster (processes on 127.0.0.1), then on the same
    cluster scaled down to one worker: the draws are identical, whatever the number of workers
    (each shard has its own seed), and the same as in this process."""
    from distributed import Client, LocalCluster

    from ppl.cluster import worker_environment

    model = ppl.model(REGRESSION)
    options = {"shards": 4, "chains": 2, "draws": 200, "warmup": 200, "seed": 9}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, env=worker_environment(os.environ)) as local, \
                Client(local) as client:
            two = {b: model.sample(DATA, backend=b, cluster=client, **options)
                   for b in ("consensus", "split_gibbs")}
            assert two["consensus"].attrs["workers"] == two["split_gibbs"].attrs["workers"] == 2
            local.scale(1)  # a LocalCluster's spec would bring a merely retired worker back
            while len(client.scheduler_info()["workers"]) != 1:
                time.sleep(0.1)
            one = {b: model.sample(DATA, backend=b, cluster=client, **options)
                   for b in ("consensus", "split_gibbs")}
            assert one["consensus"].attrs["workers"] == one["split_gibbs"].attrs["workers"] == 1
        here = {b: model.sample(DATA, backend=b, cluster=None, **options)
                for b in ("consensus", "split_gibbs")}
    for backend in ("consensus", "split_gibbs"):
        np.testing.assert_array_equal(_draws(two[backend]), _draws(one[backend]))
        np.testing.assert_array_equal(_draws(two[backend]), _draws(here[backend]))


def test_the_command_line_runs_a_data_distributed_backend(tmp_path, capsys):
    """`ppl run --backend consensus -o shards=2 -o cluster=none`: the cluster 'none' of the
    command line is this process."""
    from ppl.cli import main

    (tmp_path / "m.ppl").write_text(REGRESSION)
    (tmp_path / "d.json").write_text(json.dumps({"N": N, "x": X.tolist(), "y": Y.tolist()}))
    code = main(["run", str(tmp_path / "m.ppl"), "--data", str(tmp_path / "d.json"),
                 "--backend", "consensus", "-o", "shards=2", "-o", "cluster=none", "--chains",
                 "1", "--draws", "100", "--warmup", "100", "--no-progress"])
    assert code == 0
    assert "beta" in capsys.readouterr().out
