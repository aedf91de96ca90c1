"""Bad input is a clean, located error and nothing is coerced silently: booleans as numbers,
ragged arrays, huge seeds and sizes; runs that cannot end (static HMC after a step-size
collapse); warnings that say what the sampler could not (a second mode, draws left out)."""

from __future__ import annotations

import importlib
import json
import re
import sys
import warnings

import numpy as np
import pytest

import ppl
from ppl.cli import main
from ppl.data import read_data_file
from ppl.errors import DataError, ModelError, SamplingError, SamplingWarning

# -- 1. static HMC's leapfrog steps are capped -----------------------------------------------


def test_static_hmc_caps_the_leapfrog_steps_per_iteration():
    from ppl.backends.hmc_chains import MAX_LEAPFROG_STEPS

    # A step size near 1 and a trajectory of length 10^4: 10^4 steps per iteration uncapped.
    model = ppl.model("x ~ normal(0, 1)\n", "m.ppl")
    with pytest.warns(SamplingWarning, match=f"cut short at {MAX_LEAPFROG_STEPS} leapfrog"):
        fit = model.sample(backend="hmc", chains=1, warmup=20, draws=20, seed=1,
                           trajectory_length=1e4)
    steps = np.asarray(fit["sample_stats"]["n_steps"])
    assert MAX_LEAPFROG_STEPS == 1024  # the cap docs/python-api.md gives
    assert steps.max() <= MAX_LEAPFROG_STEPS
    assert steps.max() == MAX_LEAPFROG_STEPS
    notes = json.loads(fit.attrs["warnings"])
    assert any(re.search(r"in \d+ of 40 iterations \(\d+ in warm-up, 20 while sampling\)", note)
               for note in notes)


# -- 2. booleans are not numbers -----------------------------------------------------------

BOOL_MODEL = "data N: int\ndata y: real[N]\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n"


@pytest.mark.parametrize("data, name, where", [
    ({"N": 3, "y": [1.0, True, 0.5]}, "y", "[2]"),
    ({"N": 3, "y": np.array([True, False, True])}, "y", "[1]"),
    ({"N": True, "y": [1.0]}, "N", ""),
    ({"N": np.bool_(True), "y": [1.0]}, "N", ""),
])
def test_booleans_are_refused_as_numbers(data, name, where):
    model = ppl.model(BOOL_MODEL, "m.ppl")
    with pytest.raises(DataError) as caught:
        model.bind(data)
    text = str(caught.value)
    assert f"data '{name}' holds true/false" in text
    assert where in text
    assert "give 0/1 as integers" in text
    assert text.startswith("m.ppl:")


def test_a_boolean_deep_in_nested_lists_is_found_at_its_index():
    # rows of plain numbers are passed over in one scan (JSON's large matrices); a true/false
    # among them is still found, at its row and column
    model = ppl.model("data N: int\ndata K: int\ndata X: matrix[N, K]\nmu ~ normal(0, 1)\n"
                      "X ~ normal(mu, 1)\n", "m.ppl")
    rows = [[float(i + j) for j in range(3)] for i in range(4)]
    rows[2][1] = False
    with pytest.raises(DataError, match=r"data 'X' holds true/false values \(the first at "
                                        r"\[3, 2\]\)"):
        model.bind({"N": 4, "K": 3, "X": rows})
    rows[2][1], rows[3] = 1.0, (1, 2, np.True_)
    with pytest.raises(DataError, match=r"the first at \[4, 3\]"):
        model.bind({"N": 4, "K": 3, "X": rows})


def test_json_booleans_are_refused(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('{"N": 2, "y": [true, false]}')
    with pytest.raises(DataError, match="data 'y' holds true/false values"):
        ppl.model(BOOL_MODEL, "m.ppl").bind(read_data_file(path))


# -- 3. a ragged array while a size is inferred ----------------------------------------------


def test_a_ragged_array_while_a_size_is_inferred_is_a_located_data_error():
    model = ppl.model("data N: int\ndata K: int\ndata y: real[N, K]\nmu ~ normal(0, 1)\n"
                      "y ~ normal(mu, 1)\n", "m.ppl")
    with pytest.raises(DataError) as caught:
        model.bind({"y": [[1.0, 2.0], [3.0, 4.0], [5.0]]})
    text = str(caught.value)
    assert text.startswith("m.ppl:3:6: error: data 'y' is ragged")
    assert "row [3] has 1 entry where row [1] has 2" in text


def test_a_ragged_array_with_the_sizes_given_names_the_row():
    model = ppl.model("data y: real[2, 2]\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n", "m.ppl")
    with pytest.raises(DataError, match=r"row \[2\] has 3 entries where row \[1\] has 2"):
        model.bind({"y": [[1.0, 2.0], [3.0, 4.0, 5.0]]})


# -- 4. seeds out of range -------------------------------------------------------------------


def test_a_huge_seed_is_a_usage_error_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "m.ppl"
    path.write_text("x ~ normal(0, 1)\n")
    assert main(["run", str(path), "--seed", "1180591620717411303424"]) == 2
    err = capsys.readouterr().err
    assert "--seed must be an integer from 0 to 4294967295" in err
    assert "Traceback" not in err and "OverflowError" not in err


def test_a_huge_seed_is_a_sampling_error_in_python():
    with pytest.raises(SamplingError, match="seed must be an integer from 0 to 4294967295"):
        ppl.model("x ~ normal(0, 1)\n").sample(seed=1180591620717411303424, chains=1, draws=1,
                                                warmup=0)


# -- 5. SMC errors name the model's file -----------------------------------------------------

SMC_MODEL = "mu ~ normal(0, 1)\ndata y: real\ny ~ normal(mu, 1)\n"


def test_smc_errors_from_sample_name_the_model_file():
    model = ppl.model(SMC_MODEL, "m.ppl")
    with pytest.raises(SamplingError) as caught:
        model.sample({"y": 1.0}, backend="smc", chains=1, draws=50, max_stages=1,
                     target_ess=0.99, reference="prior")
    assert str(caught.value).startswith("m.ppl: error: SMC did not reach the posterior")


def test_smc_errors_from_the_marginal_likelihood_name_the_model_file():
    model = ppl.model(SMC_MODEL, "m.ppl")
    with pytest.raises(SamplingError) as caught:
        model.log_marginal_likelihood({"y": 1.0}, num_particles=50, max_stages=1,
                                      target_ess=0.99)
    assert str(caught.value).startswith("m.ppl: error: SMC did not reach the posterior")


# -- 6. one prefix per warning on the command line -------------------------------------------


def test_cli_warnings_have_one_prefix(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.ppl").write_text("data y: real\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n")
    (tmp_path / "d.json").write_text('{"y": 1.0, "z": 2}')
    assert main(["run", "m.ppl", "--data", "d.json", "--chains", "1", "--draws", "50",
                 "--warmup", "50", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "m.ppl: warning: data entries not used by the model: z" in err
    assert err.count("warning:") == len([line for line in err.splitlines()
                                         if "warning:" in line])
    assert "warning: m.ppl: warning:" not in err


# -- 7. separated modes found by the auto init are reported ----------------------------------

BIMODAL = """
param x: real
target += log_mix(0.5, normal_lpdf(x, 4, 0.5), normal_lpdf(x, -4, 0.5))
"""


def test_separated_modes_found_by_the_climbs_are_reported():
    model = ppl.model(BIMODAL, "m.ppl")
    with pytest.warns(SamplingWarning, match="found 2 separated modes") as record:
        fit = model.sample(chains=2, warmup=100, draws=100, seed=0)
    text = next(str(w.message) for w in record if "separated modes" in str(w.message))
    assert "x = 4" in text and "x = -4" in text
    assert "chains=" in text  # the advice: more chains
    assert any("separated modes" in note for note in json.loads(fit.attrs["warnings"]))


def test_one_mode_gives_no_mode_warning():
    model = ppl.model("x ~ normal(0, 1)\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.sample(chains=2, warmup=100, draws=100, seed=0)
    assert not any("separated modes" in str(w.message) for w in caught)


def test_distinct_modes_groups_ends_within_a_standard_deviation():
    from ppl.backends.base import distinct_modes

    chol = np.eye(1) * 2.0  # sd 0.5
    modes = [(0, np.array([4.0]), -1.0, chol), (1, np.array([4.1]), -1.0, chol),
             (2, np.array([-4.0]), -1.2, chol)]
    groups = distinct_modes(modes)
    assert [len(g) for g in groups] == [2, 1]
    assert groups[0][0][1][0] == 4.0


# -- 8. memory: estimated from the sizes, refused before anything is allocated ---------------


@pytest.fixture
def memory():
    import ppl.memory

    return ppl.memory


def test_the_estimate_counts_evaluations_and_stored_draws(memory):
    quantities = [memory.Quantity("x", "data", 1000), memory.Quantity("b", "latent", 3),
                  memory.Quantity("mu", "deterministic", 1000)]
    run = memory.RunShape(chains=2, draws=100)
    est = memory.estimate(quantities, run, itemsize=8)
    assert est.stored == {"b": 2 * 100 * 3 * 8 * 2, "mu": 2 * 100 * 1000 * 8}
    assert est.evaluation == 2 * memory.EVALUATION_COPIES * 8 * 2003
    assert est.total == est.evaluation + sum(est.stored.values())


@pytest.mark.parametrize("text, size", [("16GB", 16e9), ("1.5 GiB", 1.5 * 2**30),
                                         ("500mb", 5e8), ("123", 123), (10**9, 1e9)])
def test_memory_limits_are_read_with_units(text, size, memory):
    assert memory.parse_limit(text) == size


def test_a_bad_memory_limit_is_an_error(memory):
    with pytest.raises(SamplingError, match="PPL_MEMORY_LIMIT"):
        memory.parse_limit("lots")


@pytest.mark.parametrize("src, line", [
    ("x: real[1000000000000] ~ normal(0, 1)\n", 1),
    ("data N: int\nx: vector[N] ~ normal(0, 1)\n", 2),
    ("mu ~ normal(0, 1)\nparam m: matrix[100000, 100000]\n", 2),
])
def test_a_model_too_big_for_memory_is_refused_before_compiling(src, line, monkeypatch):
    def no_compiling(*args, **kwargs):
        raise AssertionError("compiled although the memory check should have refused it")

    monkeypatch.setattr(sys.modules["ppl.model"], "compile_graph", no_compiling)
    model = ppl.model(src, "m.ppl")
    with pytest.raises(ModelError) as caught:
        model.sample({"N": 10**9}, chains=2, draws=1000, memory_limit="8GB")
    text = str(caught.value)
    assert text.startswith(f"m.ppl:{line}:")
    assert " GB" in text and "memory limit of 8 GB" in text
    assert "PPL_MEMORY_LIMIT" in text


def test_the_limit_comes_from_the_environment(monkeypatch, memory):
    monkeypatch.setenv("PPL_MEMORY_LIMIT", "1MB")
    assert memory.memory_limit() == 1e6


def test_deterministics_that_do_not_fit_are_left_out_with_a_warning():
    src = ("data N: int\ndata x: vector[N]\ndata y: vector[N]\na ~ normal(0, 1)\n"
           "b ~ normal(0, 1)\nmu = a + b * x\ny ~ normal(mu, 1)\n")
    rng = np.random.default_rng(0)
    x = rng.normal(size=1000)
    data = {"N": 1000, "x": x, "y": 1 + 2 * x + rng.normal(size=1000)}
    model = ppl.model(src, "m.ppl")
    with pytest.warns(SamplingWarning, match="'mu' was left out of the stored draws"):
        fit = model.sample(data, chains=1, warmup=50, draws=100, memory_limit=300_000,
                           var_names=["mu"])  # asked for: mu has more than 10 values
    assert "mu" not in fit["posterior"]
    assert {"a", "b"} <= set(fit["posterior"].data_vars)
    notes = json.loads(fit.attrs["warnings"])
    assert any("PPL_MEMORY_LIMIT" in note for note in notes)
    kept = model.sample(data, chains=1, warmup=50, draws=100, memory_limit="1GB",
                        var_names=["mu"])
    assert "mu" in kept["posterior"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        default = model.sample(data, chains=1, warmup=50, draws=100, memory_limit=300_000)
    assert "mu" not in default["posterior"]  # not recorded by default: nothing to warn about
    assert not [w for w in caught if "left out of the stored draws" in str(w.message)]


@pytest.mark.parametrize("src, message", [
    ("data L: matrix[2, 3]\ndata b: vector[3]\nx = mdivide_left_tri_low(L, b)\n",
     r"model\.ppl:3:5: error: mdivide_left_tri_low\(L, b\) needs a square matrix L"),
    ("function f(x: real): real = g(x) + 1\nfunction g(x: real): real = 2 * f(x)\n"
     "data r: real\ny = f(r)\n",
     r"model\.ppl:1:10: error: f\(\) calls itself through g\(\); a function cannot be recursive"),
])
def test_the_checker_refuses_what_cannot_compile(src, message):
    with pytest.raises(ModelError, match=message):
        ppl.model(src, "model.ppl")


@pytest.mark.parametrize("size, message", [
    ("!N", r"m\.ppl:3:6: error: data 'X' should have shape \(0, 2\)"),
    ("N == 4", r"m\.ppl:3:6: error: data 'X' should have shape \(1, 2\)"),
    ("N - 2 * K + 4", None),
    ("max(N, K)", r"m\.ppl:3:16: error: the size max\(N, K\) cannot be computed before sampling"),
])
def test_every_size_is_a_number_once_the_data_is_known(size, message):
    """Sizes are folded from the integer data (here N = 4, K = 2); one that cannot be folded
    was a ValueError from int('max(N, K)') while the memory was estimated."""
    src = f"data N: int >= 0\ndata K: int >= 1\ndata X: matrix[{size}, K]\nalpha ~ normal(0, 1)\n"
    data = {"N": 4, "K": 2, "X": [[0.0, 1.0]] * 4}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if message is None:
            assert ppl.model(src, "m.ppl").compile(data).dimension == 1
            return
        with pytest.raises(ppl.PPLError, match=message):
            ppl.model(src, "m.ppl").compile(data)


@pytest.mark.parametrize("count, message", [
    (10**12, r"m\.ppl:3:1: error: this run would need about 24,000 GB of memory"),
    (2**63, r"m\.ppl:1:6: error: data 'g' is a dimension of 9223372036854775808 labels, "
            r"more than the largest size"),
])
def test_a_huge_dimension_count_is_a_located_error_not_a_memory_error(count, message):
    """A count n for the labels 1..n was turned into a list first: MemoryError at 10^12,
    OverflowError at 2^63."""
    src = "data g: dim\ndata N: int\nx: vector[g] ~ normal(0, 1)\n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ppl.PPLError, match=message):
            ppl.model(src, "m.ppl").compile({"g": count, "N": 1})


def test_a_poor_pathfinder_fit_is_warned_about_once():
    """On a funnel Pathfinder's importance weights have Pareto k > 0.7; the warning came
    twice (the backend's own and the summary's)."""
    model = ppl.model("v ~ normal(0, 3)\nx: vector[9] ~ normal(0, exp(v / 2))\n", "funnel.ppl")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.sample({}, backend="pathfinder", draws=500, seed=1)
    assert fit.attrs["pareto_k"] > 0.7
    about_k = [w for w in caught if "Pareto k" in str(w.message)]
    assert len(about_k) == 1, [str(w.message) for w in about_k]
    assert issubclass(about_k[0].category, SamplingWarning)


def test_the_constrained_density_is_evaluated_at_the_values_given():
    """A simplex with an entry of 1e-30 does not survive the trip to the unconstrained space
    and back (stick-breaking loses it): the density was off by 29 (found on the Stan corpus's
    LDA posterior)."""
    from scipy import special

    compiled = ppl.model("w ~ dirichlet([0.1, 0.1, 0.1])\n").compile({})
    w = np.array([0.6, 0.4 - 1e-30, 1e-30])
    exact = np.sum((0.1 - 1) * np.log(w)) + special.gammaln(0.3) - 3 * special.gammaln(0.1)
    assert abs(float(compiled.constrained_log_density({"w": w})) - exact) < 1e-9


def test_a_summed_out_count_keeps_double_precision():
    """The enumerated values of a discrete latent were int32, and NumPyro's binomial with an
    int32 count computes in float32 (off by 1e-8 against the hand-written sum)."""
    summed = ppl.model("param theta: real in [0, 1]\ndata k: int\n"
                       "n ~ categorical([0.25, 0.25, 0.25, 0.25])\nk ~ binomial(n, theta)\n")
    by_hand = ppl.model("param theta: real in [0, 1]\ndata k: int\n"
                        "target += log_sum_exp([log(0.25) + binomial_lpmf(k, n, theta) "
                        "for n in 1:4])\n")
    for theta in (0.1, 0.3, 0.7):
        values = {"theta": np.asarray(theta)}
        difference = float(summed.compile({"k": 1}).constrained_log_density(values)) \
            - float(by_hand.compile({"k": 1}).constrained_log_density(values))
        assert abs(difference) < 1e-13, difference


def test_a_matrix_of_simplexes_works_under_strict_rank_promotion():
    """NumPyro's stick-breaking broadcasts (M, K - 1) against (K - 1,): under the strict rank
    promotion the tests run with (conftest.py) the log density raised."""
    import jax.numpy as jnp

    compiled = ppl.model("theta[m] ~ dirichlet([1.0, 2.0]) for m in 1:3\n").compile({})
    values = {"theta": np.tile([0.3, 0.7], (3, 1))}
    assert np.isfinite(float(compiled.log_density(jnp.zeros(compiled.dimension))))
    assert abs(float(compiled.constrained_log_density(values)) - 3 * np.log(2 * 0.7)) < 1e-12


def test_a_size_may_be_an_integer_computed_from_the_data_by_a_function():
    """``m = max(y)`` then ``vector[m - 1]`` (the Stan corpus's graded response model): the
    definition is evaluated on the data before the sizes are checked."""
    src = ("data N: int\ndata y: int[N] >= 1\nm = max(y)\nkappa: vector[m - 1] ~ normal(0, 1)\n"
           "first = min(y) + 1\nbeta: vector[first] ~ normal(0, 1)\n")
    model = ppl.model(src, "m.ppl")
    compiled = model.compile({"N": 4, "y": [1, 4, 2, 3]})
    assert compiled.dimension == 3 + 2
    fit_shapes = {b.name: b.shape for b in compiled.blocks}
    assert fit_shapes == {"kappa": (3,), "beta": (2,)}


def test_a_size_computed_by_a_function_inside_the_size_is_refused_with_a_hint():
    with pytest.raises(ModelError, match=r"m\.ppl:3:15: error: the size max\(y\) cannot be "
                                         r"computed before sampling(.|\n)*define it first"):
        ppl.model("data N: int\ndata y: int[N]\nkappa: vector[max(y)] ~ normal(0, 1)\n", "m.ppl")


def test_a_size_may_be_computed_from_an_integer_array_of_the_data():
    """The Stan corpus's gpcm: ``m[i]``, the largest response of item i, then ``vector[sum(m)
    - 1]``. Compiling crashed in the memory estimate (``int('S - 1')``)."""
    src = ("data N: int\ndata I: int\ndata ii: int[N] in [1, I]\ndata y: int[N] >= 0\n"
           "m = [max([if ii[n] == i then y[n] else 0 for n in 1:N]) for i in 1:I]\n"
           "c[i] = 2 * m[i] for i in 1:I\n"
           "S = sum(m) + sum(c)\nbeta: vector[S - 1] ~ normal(0, 1)\n")
    compiled = ppl.model(src, "m.ppl").compile(
        {"N": 5, "I": 2, "ii": [1, 2, 1, 2, 2], "y": [0, 1, 3, 2, 0]})
    assert {b.name: b.shape for b in compiled.blocks} == {"beta": (3 * (3 + 2) - 1,)}


def test_a_size_the_data_cannot_give_is_a_located_error_not_a_crash(monkeypatch):
    """Whatever makes an integer definition fail to evaluate on the data (simulated here),
    the size reaches code generation as a number or not at all."""
    binding = importlib.import_module("ppl.binding")  # where Model.bind computes the sizes
    monkeypatch.setattr(binding, "integer_definitions", lambda *args, **kwargs: {})
    src = "data N: int\ndata y: int[N]\nn = max(y)\nx: vector[n - 1] ~ normal(0, 1)\n"
    with pytest.raises(ModelError, match=r"m\.ppl:4:11: error: the size n - 1 could not be "
                                         r"computed from the data"):
        ppl.model(src, "m.ppl").compile({"N": 3, "y": [1, 2, 3]})


@pytest.mark.parametrize("line, expected", [
    ("y = segment(x, 1.5, 2)", r"m\.ppl:3:16: error: the start of segment\(x, i, n\) must be "
                               r"an integer, not real"),
    ("y = segment(x, 1, n)", r"m\.ppl:3:19: error: the size argument 3 of segment\(\) must be "
                             r"an integer, not real"),
    ("y = kronecker_product(x, A)", r"m\.ppl:3:23: error: kronecker_product\(\) needs two "
                                    r"matrices, not vector\[3\]"),
    ("y = eigenvalues_sym(x)", r"m\.ppl:3:21: error: eigenvalues_sym\(\) needs a square "
                               r"matrix, not vector\[3\]"),
])
def test_misuse_of_the_new_matrix_and_slice_functions_is_located(line, expected):
    src = f"data x: vector[3]\ndata A: matrix[2, 2]\n{line}\nn ~ normal(0, 1)\n"
    with pytest.raises(ModelError, match=expected):
        ppl.model(src, "m.ppl")
