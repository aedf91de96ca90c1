"""Backend options: one declarative spec per backend and one validator (ppl.backends.options).

A misspelt option or a value the backend cannot use is a SamplingError that names the backend,
says what is accepted and, for a near miss, what was probably meant; every problem of one call
is reported together. The backends are called through ``Model.sample`` on a one-parameter
model: the options are checked before any compilation, so these tests are quick.
"""

from __future__ import annotations

import dataclasses
import inspect
import math

import numpy as np
import pytest

import ppl
from ppl.backends import advi, gpss, pathfinder, smc
from ppl.backends import map as map_backend
from ppl.backends.options import (
    BOOL,
    FLOAT,
    HMC_DEFAULT_TRAJECTORY_LENGTH,
    HMC_OPTIONS,
    INT,
    NUTS_OPTIONS,
    Option,
    at_least,
    between,
    choice,
    describe_options,
    validate_options,
)
from ppl.backends.registry import get_backend
from ppl.cli import main

MODEL = "data y: real\nmu ~ normal(0, 1)\ny ~ normal(mu, 1)\n"
DATA = {"y": 0.5}
SPECS = {"advi": advi.OPTIONS, "map": map_backend.OPTIONS, "smc": smc.OPTIONS,
         "pathfinder": pathfinder.OPTIONS, "gpss": gpss.OPTIONS}


@pytest.fixture(scope="module")
def model():
    return ppl.model(MODEL)


def _problems(backend: str, given: dict, spec) -> list[tuple[str, str]]:
    with pytest.raises(ppl.SamplingError) as info:
        validate_options(backend, given, spec)
    return [(d.message, d.hint) for d in info.value.diagnostics]


def _sample_problems(model, backend: str, **options) -> list[tuple[str, str]]:
    with pytest.raises(ppl.SamplingError) as info:
        model.sample(DATA, backend=backend, draws=20, warmup=20, chains=1, **options)
    return [(d.message, d.hint) for d in info.value.diagnostics]


# -- the validator, on the nuts and hmc specs ---------------------------------------------------

def test_nuts_defaults_are_filled():
    assert validate_options("nuts", {}, NUTS_OPTIONS) == {
        "target_accept": "auto", "max_tree_depth": 10, "dense_mass": "auto",
        "chain_method": None, "init": "auto", "adaptation": "windowed"}


def test_given_values_are_kept_and_the_rest_defaulted():
    got = validate_options("nuts", {"target_accept": 0.95, "dense_mass": False}, NUTS_OPTIONS)
    assert got["target_accept"] == 0.95 and got["dense_mass"] is False
    assert got["max_tree_depth"] == 10 and list(got) == [o.name for o in NUTS_OPTIONS]


def test_hmc_defaults_leave_the_trajectory_to_the_backend():
    # NumPyro fixes the step size when both trajectory_length and num_steps are given, so the
    # spec leaves trajectory_length unset and the backend puts pi/2 in only without num_steps.
    assert validate_options("hmc", {}, HMC_OPTIONS) == {
        "trajectory_length": None, "num_steps": None, "target_accept": "auto",
        "dense_mass": "auto", "chain_method": None, "init": "auto"}
    assert HMC_DEFAULT_TRAJECTORY_LENGTH == pytest.approx(math.pi / 2)
    assert validate_options("hmc", {"num_steps": 8}, HMC_OPTIONS)["num_steps"] == 8


def test_misspelt_option_names_the_backend_and_suggests():
    assert _problems("nuts", {"target_acept": 0.9}, NUTS_OPTIONS) == [(
        "nuts has no option 'target_acept'",
        "did you mean 'target_accept'? nuts's options: target_accept, max_tree_depth, "
        "dense_mass, chain_method, init, adaptation")]


def test_unknown_option_without_a_near_name_lists_the_options():
    [(message, hint)] = _problems("hmc", {"frobnicate": 1}, HMC_OPTIONS)
    assert message == "hmc has no option 'frobnicate'"
    assert hint == ("hmc's options: trajectory_length, num_steps, target_accept, dense_mass, "
                    "chain_method, init")


def test_suggestion_ignores_case():
    [(_, hint)] = _problems("nuts", {"Max_Tree_Depth": 5}, NUTS_OPTIONS)
    assert hint.startswith("did you mean 'max_tree_depth'?")


def test_hmc_has_no_tree_depth():
    [(message, _)] = _problems("hmc", {"max_tree_depth": 5}, HMC_OPTIONS)
    assert message == "hmc has no option 'max_tree_depth'"


@pytest.mark.parametrize("name, value, message", [
    ("target_accept", 2,
     "target_accept must be 'auto' or a number strictly between 0 and 1, not 2"),
    ("target_accept", 0,
     "target_accept must be 'auto' or a number strictly between 0 and 1, not 0"),
    ("target_accept", "high",
     "target_accept must be 'auto' or a number strictly between 0 and 1, not 'high'"),
    ("target_accept", True,
     "target_accept must be 'auto' or a number strictly between 0 and 1, not True"),
    ("target_accept", float("nan"),
     "target_accept must be 'auto' or a number strictly between 0 and 1, not nan"),
    ("max_tree_depth", 0, "max_tree_depth must be an integer from 1 to 30, not 0"),
    ("max_tree_depth", 31, "max_tree_depth must be an integer from 1 to 30, not 31"),
    ("max_tree_depth", 10.0, "max_tree_depth must be an integer from 1 to 30, not 10.0"),
    ("dense_mass", "maybe", "dense_mass must be 'auto', true or false, not 'maybe'"),
    ("dense_mass", 1, "dense_mass must be 'auto', true or false, not 1"),
    ("chain_method", "paralel",
     "chain_method must be one of 'parallel', 'vectorized', 'sequential', not 'paralel'"),
    ("init", "laplac", "init must be one of 'auto', 'laplace', 'uniform', 'prior', not 'laplac'"),
])
def test_bad_nuts_values_say_what_is_accepted(name, value, message):
    [(got, _)] = _problems("nuts", {name: value}, NUTS_OPTIONS)
    assert got == message


@pytest.mark.parametrize("name, value, message", [
    ("num_steps", 0, "num_steps must be an integer >= 1, not 0"),
    ("trajectory_length", -1.0, "trajectory_length must be a number > 0, not -1.0"),
    ("trajectory_length", float("inf"), "trajectory_length must be a number > 0, not inf"),
])
def test_bad_hmc_values_say_what_is_accepted(name, value, message):
    [(got, _)] = _problems("hmc", {name: value}, HMC_OPTIONS)
    assert got == message


def test_a_near_miss_of_a_choice_is_suggested_and_the_default_named():
    [(_, hint)] = _problems("nuts", {"chain_method": "paralel"}, NUTS_OPTIONS)
    assert hint.startswith("did you mean 'parallel'?")
    [(message, hint)] = _problems("nuts", {"target_accept": 2}, NUTS_OPTIONS)
    assert message == "target_accept must be 'auto' or a number strictly between 0 and 1, not 2"
    assert "target_accept='auto'" in hint and "raised to 0.9" in hint
    [(_, hint)] = _problems("nuts", {"target_accept": "atuo"}, NUTS_OPTIONS)
    assert hint.startswith("did you mean 'auto'?")


@pytest.mark.parametrize("options", [
    {"dense_mass": True}, {"dense_mass": False}, {"dense_mass": "auto"},
    {"dense_mass": np.bool_(True)},
    {"target_accept": np.float32(0.9)}, {"max_tree_depth": np.int64(12)},
    {"chain_method": None}, {"chain_method": "sequential"}, {"init": "prior"},
])
def test_good_nuts_values_pass_unchanged(options):
    got = validate_options("nuts", options, NUTS_OPTIONS)
    for name, value in options.items():
        assert got[name] is value


def test_integers_are_numbers():
    assert validate_options("hmc", {"trajectory_length": 2}, HMC_OPTIONS)["trajectory_length"] == 2
    huge = 10 ** 400  # beyond the float range: still a number, only out of range here
    [(message, _)] = _problems("nuts", {"target_accept": huge}, NUTS_OPTIONS)
    assert message.startswith("target_accept must be 'auto' or a number strictly between 0 and 1")


def test_every_problem_is_reported_together():
    problems = _problems("nuts", {"target_acept": 0.9, "max_tree_depth": 0,
                                  "dense_mass": "maybe"}, NUTS_OPTIONS)
    assert [message for message, _ in problems] == [
        "nuts has no option 'target_acept'",
        "max_tree_depth must be an integer from 1 to 30, not 0",
        "dense_mass must be 'auto', true or false, not 'maybe'"]


def test_a_small_spec_of_every_kind():
    spec = (Option("flag", BOOL, True), Option("count", INT, 3, at_least(1)),
            Option("rate", FLOAT, 0.5, between(0, 1), doc="a fraction"),
            Option("mode", choice("fast", "slow"), "fast"))
    assert validate_options("toy", {}, spec) == {"flag": True, "count": 3, "rate": 0.5,
                                                 "mode": "fast"}
    problems = _problems("toy", {"flag": "yes", "count": 2.5, "rate": 1.5, "mode": "quick"},
                         spec)
    assert [m for m, _ in problems] == [
        "flag must be true or false, not 'yes'", "count must be an integer >= 1, not 2.5",
        "rate must be a number strictly between 0 and 1, not 1.5",
        "mode must be one of 'fast', 'slow', not 'quick'"]
    assert problems[2][1] == "a fraction; the default is rate=0.5"


def test_a_backend_without_options():
    assert validate_options("plain", {}, ()) == {}
    assert _problems("plain", {"x": 1}, ()) == [("plain has no option 'x'",
                                                 "plain takes no options")]


def test_describe_options_is_one_line():
    line = describe_options(NUTS_OPTIONS)
    assert "\n" not in line
    assert line == ("options: target_accept=auto, max_tree_depth=10, "
                    "dense_mass=auto (auto|true|false), chain_method (parallel|vectorized|"
                    "sequential), init=auto (auto|laplace|uniform|prior), "
                    "adaptation=windowed (windowed|low_rank)")
    assert describe_options(()) == "no options"


# -- the specs of the backends ----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_names_are_unique_and_described(name):
    spec = SPECS[name]
    assert len({o.name for o in spec}) == len(spec)
    assert describe_options(spec) in get_backend(name).description


def _defaults(spec) -> dict:
    return {o.name: o.default for o in spec}


def _keyword_defaults(function) -> dict:
    return {p.name: p.default for p in inspect.signature(function).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def test_specs_list_exactly_what_the_backends_take():
    assert _defaults(advi.OPTIONS) == dataclasses.asdict(advi.ADVIOptions())
    assert _defaults(map_backend.OPTIONS) == dataclasses.asdict(map_backend.MAPOptions())
    assert _defaults(smc.OPTIONS) == _keyword_defaults(smc.run_smc)
    assert _defaults(pathfinder.OPTIONS) == _keyword_defaults(pathfinder.run_pathfinder)
    assert _defaults(gpss.OPTIONS) == _keyword_defaults(gpss.run_gpss)


# -- through Model.sample --------------------------------------------------------------------

@pytest.mark.parametrize("backend, wrong, meant", [
    ("advi", "learning_rat", "learning_rate"),
    ("map", "laplce", "laplace"),
    ("smc", "num_particle", "num_particles"),
    ("pathfinder", "num_path", "num_paths"),
])
def test_misspelt_option_per_backend(model, backend, wrong, meant):
    [(message, hint)] = _sample_problems(model, backend, **{wrong: 100})
    assert message == f"{backend} has no option '{wrong}'"
    names = ", ".join(o.name for o in SPECS[backend])
    assert hint == f"did you mean '{meant}'? {backend}'s options: {names}"


@pytest.mark.parametrize("backend, options, message", [
    ("advi", {"learning_rate": -1},
     "learning_rate must be a number > 0 or an optax schedule, not -1"),
    ("advi", {"family": "fulrank"}, "family must be 'auto', 'meanfield', 'fullrank' or a family "
                                    "object (with name, init, transform and log_prob), not "
                                    "'fulrank'"),
    ("advi", {"objective": "kl"}, "objective must be one of 'elbo', 'iwelbo', 'renyi', not 'kl'"),
    ("advi", {"antithetic": "no"}, "antithetic must be true or false, not 'no'"),
    ("advi", {"num_mc": 0}, "num_mc must be an integer >= 1, not 0"),
    ("advi", {"init": "prior"}, "init must be one of 'laplace', 'random', not 'prior'"),
    ("map", {"laplace": "yes"}, "laplace must be true or false, not 'yes'"),
    ("map", {"optimizer": "newton"}, "optimizer must be one of 'lbfgs', 'adam', not 'newton'"),
    ("map", {"num_starts": 0}, "num_starts must be an integer >= 1, not 0"),
    ("map", {"learning_rate": 0}, "learning_rate must be a number > 0, not 0"),
    ("smc", {"num_particles": 1}, "num_particles must be an integer >= 2, not 1"),
    ("smc", {"target_ess": 1.5}, "target_ess must be a number strictly between 0 and 1, not 1.5"),
    ("smc", {"kernel": "gibbs"}, "kernel must be one of 'hmc', 'nuts', not 'gibbs'"),
    ("smc", {"reference": "flat"},
     "reference must be one of 'auto', 'prior', 'laplace', not 'flat'"),
    ("smc", {"max_tree_depth": 40}, "max_tree_depth must be an integer from 1 to 30, not 40"),
    ("smc", {"step_size": -0.1}, "step_size must be a number > 0, not -0.1"),
    ("smc", {"target_accept": 2}, "target_accept must be a number strictly between 0 and 1, not 2"),
    ("pathfinder", {"num_paths": 0}, "num_paths must be an integer >= 1, not 0"),
    ("pathfinder", {"maxiter": 1.5}, "maxiter must be an integer >= 1, not 1.5"),
    ("pathfinder", {"gtol": -1.0}, "gtol must be a number >= 0, not -1.0"),
    ("pathfinder", {"importance_resampling": 1},
     "importance_resampling must be true or false, not 1"),
])
def test_bad_values_per_backend(model, backend, options, message):
    assert [m for m, _ in _sample_problems(model, backend, **options)] == [message]


def test_several_problems_through_sample(model):
    problems = _sample_problems(model, "smc", num_particle=100, kernel="nut", target_ess=0)
    assert [m for m, _ in problems] == [
        "smc has no option 'num_particle'", "kernel must be one of 'hmc', 'nuts', not 'nut'",
        "target_ess must be a number strictly between 0 and 1, not 0"]
    assert problems[1][1].startswith("did you mean 'nuts'?")


def test_advi_accepts_a_schedule_and_a_family_object():
    options = {"learning_rate": lambda step: 0.01, "family": advi.MeanField(name="mine")}
    got = validate_options("advi", options, advi.OPTIONS)
    assert got["learning_rate"] is options["learning_rate"] and got["family"] is options["family"]


def test_smc_derived_particle_count_is_still_checked(model):
    # num_particles defaults to chains * draws, which the spec cannot see
    with pytest.raises(ppl.SamplingError, match="num_particles must be an integer >= 2"):
        model.sample(DATA, backend="smc", chains=1, draws=1)


def test_misspelt_option_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "m.ppl"
    path.write_text(MODEL)
    (tmp_path / "d.json").write_text('{"y": 0.5}')
    code = main(["run", str(path), "--data", str(tmp_path / "d.json"), "--backend", "pathfinder",
                 "--chains", "1", "--draws", "20", "--no-progress", "-o", "num_path=2",
                 "-o", "importance_resampling=maybe"])
    err = capsys.readouterr().err
    assert code == 2  # a usage error, found before the model is compiled
    assert "ppl run: pathfinder has no option 'num_path'" in err
    assert "did you mean 'num_paths'?" in err
    assert "ppl run: importance_resampling must be true or false, not 'maybe'" in err
    assert "Traceback" not in err


def test_an_option_worked_out_at_run_time_explains_its_default():
    [(_, hint)] = _problems("nuts", {"chain_method": "paralel"}, NUTS_OPTIONS)
    assert hint == ("did you mean 'parallel'? by default parallel with a device per chain, "
                    "else vectorized")
    spec = (Option("n", INT, None, at_least(1)),)
    assert _problems("toy", {"n": 0}, spec) == [("n must be an integer >= 1, not 0",
                                                 "leave n out for its default")]
