"""Validation at scale: ``ppl.fit_many`` (Dask), ``Model.validate`` and ``ppl validate``.

The calibration numbers are tested on exact posterior draws of a conjugate normal model (no
fitting: fast), made wrong on purpose (too narrow, too wide, shifted) to see the expected
shapes of failure. End to end: one small NUTS study in the default suite; the larger studies
(NUTS on eight schools, mean-field ADVI on a correlated posterior, a model whose fit is
shifted by a ``target +=`` term) and a real 2-worker ``LocalCluster`` are marked slow.
Seeds are fixed; tolerances are Monte Carlo standard errors.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import ppl
import ppl.cli
from ppl.validation import calibration
from ppl.validation.many import FitOutcome, fit_many, simulation_seeds
from ppl.validation.study import summarise

NORMAL = """
data N: int >= 1
data y: vector[N]
mu ~ normal(0, 1)
y ~ normal(mu, 1)
"""
# The fit's density has an extra term that prior simulation does not see: the posterior it
# targets is the right one shifted upwards by 2 posterior variances.
SHIFTED = NORMAL + "target += 2 * mu\n"
# y = a + b x with x near 1: a and b are strongly negatively correlated a posteriori.
CORRELATED = """
data N: int >= 1
data x: vector[N]
data y: vector[N]
a ~ normal(0, 1)
b ~ normal(0, 1)
y ~ normal(a + b * x, 1)
"""
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
QUICK = dict(chains=1, draws=200, warmup=200)


@pytest.fixture
def agg():
    """Matplotlib's Agg backend for these tests only."""
    import matplotlib
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    plt.switch_backend("Agg")
    yield
    plt.switch_backend(before)


# ----------------------------------------------------------------------------- numbers


def conjugate_study(simulations: int, seed: int, scale: float = 1.0, shift: float = 0.0,
                    draws: int = 200, dims: int = 1):
    """Truths from the prior N(0, 1) and exact posterior draws given N = 4 observations
    (posterior sd 1/sqrt(5)), their spread multiplied by ``scale`` and moved by ``shift``
    posterior sds; ``dims`` independent copies."""
    rng = np.random.default_rng(seed)
    truths = rng.normal(size=(simulations, dims))
    y = truths[:, None, :] + rng.normal(size=(simulations, 4, dims))
    mean, sd = y.sum(axis=1) / 5, np.sqrt(1 / 5)
    draws_ = [(mean[i] + sd * (shift + scale * rng.normal(size=(1, draws, dims))))
              for i in range(simulations)]
    return truths, draws_


def test_the_simultaneous_band_holds_uniform_ecdfs_at_its_level():
    band = calibration.simultaneous_band(50, alpha=0.05, seed=0)
    rng = np.random.default_rng(123)  # other uniform samples than the band was made with
    outside = np.mean([not calibration.uniformity(rng.uniform(size=50), band).inside
                       for _ in range(1000)])
    # 0.05 up to 3 Monte Carlo standard errors; the discrete band errs on the safe side
    assert outside <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 1000)
    assert outside >= 0.01
    assert np.all(band.lower <= band.points) and np.all(band.points <= band.upper)


def test_exact_posterior_draws_pass():
    truths, draws = conjugate_study(200, seed=1, dims=2)
    result = summarise(truths, draws, ["a", "b"])
    assert result.verdict == "pass", str(result)
    assert result.tarp.passed
    # the fractional ranks of a correct posterior are uniform: mean 1/2 within 3 se
    assert abs(result.ranks.mean() - 0.5) < 3 * np.sqrt(1 / 12 / result.ranks.size)


@pytest.mark.parametrize("scale, shift, shape, words", [
    (0.5, 0.0, "u-shaped", "too narrow"),
    (2.0, 0.0, "hump-shaped", "too wide"),
    (1.0, 1.0, "low", "biased upwards"),
    (1.0, -1.0, "high", "biased downwards"),
])
def test_a_wrong_posterior_fails_with_its_shape(scale, shift, shape, words):
    truths, draws = conjugate_study(200, seed=2, scale=scale, shift=shift)
    result = summarise(truths, draws, ["mu"])
    assert result.verdict == "fail"
    (check,) = result.parameters
    assert not check.passed and check.shape == shape and words in check.meaning


def test_tarp_sees_a_too_narrow_joint_posterior():
    truths, draws = conjugate_study(200, seed=3, scale=0.5, dims=3)
    result = summarise(truths, draws, ["a", "b", "c"], methods=("tarp",))
    assert result.parameters == ()
    assert not result.tarp.passed and result.tarp.shape == "u-shaped"
    numbers = result.tarp.numbers
    # overconfident: the 90% regions hold the truth far less often than 90% of the time
    assert numbers.coverage[90] < 0.8


def test_the_result_as_xarray_json_plots_and_in_jupyter(tmp_path):
    truths, draws = conjugate_study(50, seed=5, dims=2)
    result = summarise(truths, draws, ["theta[1]", "theta[2]"])
    dataset = result.to_dataset()
    assert dict(dataset["rank"].sizes) == {"simulation": 50, "parameter": 2}
    assert list(dataset["parameter"].values) == ["theta[1]", "theta[2]"]
    assert np.allclose(dataset["tarp_coverage"].values, result.tarp.numbers.coverage)
    assert json.loads(json.dumps(result.to_json()))["verdict"] == result.verdict
    page = result._repr_html_()
    assert result.verdict.upper() in page and page.count("<img") == 3  # 2 SBC plots + TARP
    assert "<td>theta[1]</td>" in page
    written = result.plot(tmp_path, format="svg")
    assert sorted(p.name for p in written) == ["sbc_theta_1.svg", "sbc_theta_2.svg", "tarp.svg"]
    assert all(p.read_text().lstrip().startswith("<?xml") for p in written)
    with pytest.raises(ppl.SamplingError, match="cannot write plots as 'gif'"):
        result.plot(tmp_path, format="gif")


def test_thinning_keeps_about_the_effective_sample_size():
    rng = np.random.default_rng(4)
    independent = rng.normal(size=(2, 500, 1))
    assert calibration.thinning_step(independent) <= 2
    sticky = np.repeat(independent[:, :50], 10, axis=1)  # each draw 10 times: ess ~ 100
    assert calibration.thinning_step(sticky) >= 5


def test_seeds_depend_on_the_seed_and_position_only():
    assert simulation_seeds(7, 5) == simulation_seeds(7, 8)[:5]
    assert simulation_seeds(7, 5) != simulation_seeds(8, 5)
    assert all(0 <= s < 2**32 for s in simulation_seeds(0, 100))


# ----------------------------------------------------------------------------- fitting


def test_fit_many_records_a_failed_fit_and_goes_on():
    model = ppl.model(NORMAL)
    datasets = [{"N": 3, "y": [0.0, 1.0, 2.0]}, {"N": 3, "y": [1.0]}, {"N": 3, "y": [3.0] * 3}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcomes = fit_many(model, datasets, cluster=None, seed=5, chains=1, draws=50,
                            warmup=50)
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].seed == simulation_seeds(5, 3)[1]
    assert "DataError" in outcomes[1].error and "shape" in outcomes[1].error
    assert outcomes[2].fit["posterior"]["mu"].mean() > outcomes[0].fit["posterior"]["mu"].mean()
    assert len(model._programs) > 0  # the fits used the model's own compiled programs


def test_fit_many_checks_its_arguments():
    model = ppl.model(NORMAL)
    with pytest.raises(ppl.SamplingError, match="2 seeds for 1 data sets"):
        fit_many(model, [{"N": 1, "y": [0.0]}], seeds=[1, 2], cluster=None)
    with pytest.raises(ppl.SamplingError, match="unknown cluster"):
        fit_many(model, [{"N": 1, "y": [0.0]}], cluster="somewhere")


def test_ppl_validate_passes_nuts_on_a_conjugate_model(tmp_path, capsys, agg):
    model = tmp_path / "normal.ppl"
    model.write_text(NORMAL)
    (tmp_path / "sizes.json").write_text('{"N": 4}')
    code = ppl.cli.main([
        "validate", str(model), "--data", str(tmp_path / "sizes.json"), "--simulations", "30",
        "--draws", "150", "--warmup", "150", "--cluster", "none", "--json",
        "--report", str(tmp_path / "report"), "--report-format", "svg"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and printed["verdict"] == "pass"
    assert printed["parameters"]["mu"]["verdict"] == "pass"
    assert printed["tarp"]["verdict"] == "pass" and printed["failed_fits"] == []
    assert all(isinstance(n, int) and 0 < n <= 30 for n in printed["fit_warnings"].values())
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == ["sbc_mu.svg", "tarp.svg"]
    assert (tmp_path / "report" / "tarp.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("flags, message", [
    (["--simulations", "1"], "--simulations must be at least 2"),
    (["--backend", "gibbs"], "unknown backend 'gibbs'"),
    (["--cluster", "my-laptop"], "--cluster must be 'local', 'none' or a scheduler address"),
    (["--alpha", "2"], "--alpha must be between 0 and 1"),
])
def test_ppl_validate_usage_errors(flags, message, capsys):
    assert ppl.cli.main(["validate", "model.ppl", *flags]) == 2
    assert message in capsys.readouterr().err


def test_validate_rejects_unknown_methods_and_too_few_simulations():
    model = ppl.model(NORMAL)
    with pytest.raises(ppl.SamplingError, match="unknown validation method ranks"):
        model.validate({"N": 2}, method="sbc,ranks", cluster=None)
    with pytest.raises(ppl.SamplingError, match="simulations must be an integer >= 2"):
        model.validate({"N": 2}, simulations=1, cluster=None)
    with pytest.raises(ppl.SamplingError, match="seed must be an integer from 0 to 4294967295"):
        model.validate({"N": 2}, seed=-1, cluster=None)


# ----------------------------------------------------------------------------- slow studies


@pytest.mark.slow
def test_a_shifted_fit_fails_with_ranks_too_low():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ppl.model(SHIFTED).validate({"N": 5}, simulations=40, cluster=None, **QUICK)
    assert result.verdict == "fail"
    (check,) = result.parameters
    assert check.shape == "low" and "biased upwards" in check.meaning
    assert not result.tarp.passed


@pytest.mark.slow
def test_meanfield_advi_on_a_correlated_posterior_is_too_narrow():
    x = list(1 + 0.05 * np.arange(10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ppl.model(CORRELATED).validate(
            {"N": 10, "x": x}, simulations=40, backend="advi", cluster=None, chains=1,
            draws=200, max_steps=4000, family="meanfield")
    assert result.verdict == "fail"
    assert all(p.shape == "u-shaped" and "too narrow" in p.meaning for p in result.parameters)
    assert result.tarp.shape == "u-shaped"


@pytest.mark.slow
def test_nuts_passes_on_eight_schools_non_centred():
    data = json.loads((EXAMPLES / "eight_schools.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ppl.load(EXAMPLES / "eight_schools.ppl").validate(
            data, simulations=60, cluster="local", workers=2, chains=1, draws=400, warmup=400,
            target_accept=0.95)
    assert result.verdict == "pass", str(result)
    assert len(result.parameters) == 10  # mu, tau and the 8 theta_raw


@pytest.mark.slow
def test_fit_many_on_two_workers_matches_one_worker():
    model = ppl.model(NORMAL)
    rng = np.random.default_rng(6)
    datasets = [{"N": 4, "y": rng.normal(size=4).tolist()} for _ in range(6)]
    datasets[3] = {"N": 4, "y": [1.0]}  # fails the same way everywhere
    options = dict(seed=9, chains=1, draws=100, warmup=100)
    one = fit_many(model, datasets, cluster="local", workers=1, **options)
    two = fit_many(model, datasets, cluster="local", workers=2, **options)
    here = fit_many(model, datasets, cluster=None, **options)
    for a, b, c in zip(one, two, here):
        assert (a.index, a.seed, a.ok) == (b.index, b.seed, b.ok) == (c.index, c.seed, c.ok)
        if a.ok:
            mu = a.fit["posterior"]["mu"].values
            assert np.array_equal(mu, b.fit["posterior"]["mu"].values)
            assert np.array_equal(mu, c.fit["posterior"]["mu"].values)
    assert isinstance(two[3], FitOutcome) and "DataError" in two[3].error


def test_the_vectorised_path_takes_nuts_and_its_options_only():
    model = ppl.model(NORMAL)
    with pytest.raises(ppl.SamplingError, match="does not take the backend 'advi'"):
        model.validate({"N": 2}, backend="advi", vectorised=True)
    with pytest.raises(ppl.SamplingError, match="does not take the option max_tree_depth"):
        model.validate({"N": 2}, vectorised=True, max_tree_depth=5)


@pytest.mark.slow
def test_the_vectorised_path_passes_nuts_and_sees_a_shifted_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        right = ppl.model(NORMAL).validate({"N": 5}, simulations=60, vectorised=True,
                                           chains=1, draws=200, warmup=200)
        wrong = ppl.model(SHIFTED).validate({"N": 5}, simulations=60, vectorised=True,
                                            chains=1, draws=200, warmup=200)
    assert right.verdict == "pass", str(right)
    assert right.ranks.shape == (60, 1) and not right.failures
    assert wrong.verdict == "fail" and wrong.parameters[0].shape == "low"


def test_local_workers_compute_on_one_thread_and_keep_the_users_xla_flags():
    from ppl.cluster import worker_environment

    env = worker_environment({"XLA_FLAGS": "--xla_dump_to=/tmp/x"})
    assert env["XLA_FLAGS"].startswith("--xla_dump_to=/tmp/x ")
    assert "intra_op_parallelism_threads=1" in env["XLA_FLAGS"]
    assert env["OMP_NUM_THREADS"] == "1"
    assert worker_environment({})["XLA_FLAGS"].startswith("--xla_cpu_multi_thread_eigen=false")


def test_an_unreachable_scheduler_is_an_error_that_says_what_to_do(monkeypatch):
    from ppl import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1)
    model = ppl.model(NORMAL)
    with pytest.raises(ppl.SamplingError, match="cannot reach the Dask scheduler") as info:
        fit_many(model, [{"N": 1, "y": [0.0]}], cluster="tcp://127.0.0.1:9")
    assert "dask scheduler" in info.value.diagnostics[0].hint
    with pytest.raises(ppl.SamplingError, match="workers applies to a local cluster only"):
        fit_many(model, [{"N": 1, "y": [0.0]}], cluster="tcp://127.0.0.1:9", workers=2)
    with pytest.raises(ppl.SamplingError, match="workers must be an integer >= 1"):
        fit_many(model, [{"N": 1, "y": [0.0]}], cluster="local", workers=0)
