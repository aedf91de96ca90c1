"""The command line: `ppl check | ir | backends | run`, exit codes 0 (ok), 1 (model or data
error, a clean message on stderr) and 2 (usage). Runs `ppl.cli.main` in-process; one test runs
the installed `ppl` script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ppl
from ppl.cli import main
from ppl.summary import flat_draws

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MODEL = str(EXAMPLES / "eight_schools.ppl")
DATA = str(EXAMPLES / "eight_schools.json")


@pytest.fixture
def bad_model(tmp_path) -> Path:
    path = tmp_path / "bad.ppl"
    path.write_text("data y: real\nmu ~ normal(0, 1)\ny ~ normal(mu, sigam)\n")
    return path


EXPECTED_BAD = """bad.ppl:3:16: error: unknown name 'sigam'
   3 | y ~ normal(mu, sigam)
                      ^^^^^
  hint: declare it with `data` or give it a distribution
"""


def test_check_ok(capsys):
    assert main(["check", MODEL]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{MODEL}: OK\n"
    assert captured.err == ""


def test_check_ok_with_data(capsys):
    assert main(["check", MODEL, "--data", DATA]) == 0
    assert capsys.readouterr().out == f"{MODEL}: OK\n"


def test_check_error(bad_model, capsys, monkeypatch):
    monkeypatch.chdir(bad_model.parent)
    assert main(["check", "bad.ppl"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == EXPECTED_BAD
    assert "Traceback" not in captured.err


def test_check_data_error(tmp_path, capsys):
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"J": 2, "y": [1, 2], "sigma": [1, -1]}))
    assert main(["check", MODEL, "--data", str(data)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(
        f"{MODEL}:4:21: error: data 'sigma' violates its lower bound: value -1.0 at [2]\n")


def test_check_prints_warnings(tmp_path, capsys):
    path = tmp_path / "warn.ppl"
    path.write_text("data N: int\nparam mu: real\ntarget += -mu^2\n")
    data = tmp_path / "data.json"
    data.write_text('{"N": 1, "unused": 2}')
    assert main(["check", str(path), "--data", str(data)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{path}: OK\n"
    assert f"{path}:1:6: warning: data 'N' is declared but never used\n" in captured.err
    assert f"{path}:2:7: warning: parameter 'mu' has no distribution" in captured.err
    assert f"{path}: warning: data entries not used by the model: unused\n" in captured.err


def test_missing_model_file(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nothing.ppl")]) == 1
    assert "error: cannot read the model file" in capsys.readouterr().err


def test_ir(capsys):
    assert main(["ir", MODEL]) == 0
    captured = capsys.readouterr()
    assert captured.out == ppl.load(MODEL).ir()
    assert "observed         y : vector[J]  ~ normal(theta, sigma)    <- J, sigma, theta" in (
        captured.out)


def test_ir_with_data(capsys):
    assert main(["ir", MODEL, "--data", DATA]) == 0
    out = capsys.readouterr().out
    assert "latent           theta_raw : vector[8]  ~ normal(0, 1)    <- J\n" in out


def test_ir_of_a_bad_model(bad_model, capsys):
    assert main(["ir", str(bad_model)]) == 1
    assert "unknown name 'sigam'" in capsys.readouterr().err


def test_backends(capsys):
    assert main(["backends"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert "nuts" in names
    assert names == sorted(names)
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)  # name and description


@pytest.mark.parametrize("argv", [
    [],
    ["frobnicate"],
    ["check"],
    ["run", MODEL, "--chains", "two"],
])
def test_usage_errors_exit_with_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: ppl" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--chains", "--draws"])
def test_run_rejects_zero_counts(option, capsys):
    assert main(["run", MODEL, "--data", DATA, option, "0"]) == 2
    assert f"ppl run: {option} must be at least 1" in capsys.readouterr().err


@pytest.fixture
def no_sampling(monkeypatch):
    """Usage errors are found before any sampling starts."""
    def fail(*args, **kwargs):
        raise AssertionError("sampling started")

    monkeypatch.setattr(ppl.Model, "sample", fail)
    monkeypatch.setattr(ppl.Model, "sample_prior_predictive", fail)


@pytest.mark.parametrize("flags, message", [
    (["--warmup", "-1"], "ppl run: --warmup must be at least 0"),
    (["--seed", str(2**32)], "ppl run: --seed must be an integer from 0 to 4294967295, "
                             "not 4294967296"),
    (["--seed", str(2**64)], "ppl run: --seed must be an integer from 0 to 4294967295"),
    (["--seed", "-1"], "ppl run: --seed must be an integer from 0 to 4294967295, not -1"),
    (["-o", "target_accept"], "ppl run: --option needs KEY=VALUE, not 'target_accept'"),
    (["-o", "=0.9"], "ppl run: --option needs KEY=VALUE, not '=0.9'"),
    (["-o", "target_acept=0.9"], "ppl run: nuts has no option 'target_acept'\n  hint: did you "
                                 "mean 'target_accept'? nuts's options: "),
    (["--backend", "smc", "-o", "kernel=nutz"], "ppl run: kernel must be one of "),
    (["--backend", "nutz"], "ppl run: unknown backend 'nutz'; the installed backends are "),
    (["--output", "draws.csv"], "ppl run: cannot write 'draws.csv': name the output file with "
                                "the suffix .nc (netCDF) or .json"),
    (["--output", "no/such/folder/draws.nc"], "ppl run: cannot write 'no/such/folder/draws.nc'"
                                              ": the folder 'no/such/folder' does not exist"),
    (["--prior", "--seed", "-5"], "ppl run: --seed must be an integer from 0 to 4294967295"),
])
def test_run_usage_errors_exit_with_2_before_sampling(flags, message, no_sampling, capsys,
                                                      tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", MODEL, "--data", DATA, "--no-progress", *flags]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_run_output_into_a_folder_that_is_a_file(no_sampling, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    output = tmp_path / "file" / "draws.nc"
    assert main(["run", MODEL, "--data", DATA, "--output", str(output)]) == 2
    assert f"ppl run: cannot write '{output}': '{output.parent}' is not a folder" in (
        capsys.readouterr().err)


def test_sample_rejects_a_seed_out_of_range():
    model = ppl.load(MODEL)
    data = json.loads(Path(DATA).read_text())
    for seed in (-1, 2**32, 2**70, 1.5):
        with pytest.raises(ppl.SamplingError, match="seed must be an integer from 0 to "
                                                    "4294967295"):
            model.sample(data, seed=seed, chains=1, draws=1, warmup=0)
    with pytest.raises(ppl.SamplingError, match="seed must be an integer"):
        model.sample_prior_predictive(data, seed=-1)


def test_the_largest_seed_works_with_prior_draws():
    from ppl.model import MAX_SEED

    fit = ppl.model("mu ~ normal(0, 1)\n").sample({}, seed=MAX_SEED, prior=True, chains=1,
                                                  draws=5, warmup=5)
    assert {"posterior", "prior"} <= set(fit.children)


def test_run_with_a_data_error(tmp_path, capsys):
    data = tmp_path / "data.json"
    data.write_text('{"J": 8}')
    assert main(["run", MODEL, "--data", str(data), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "error: data 'y' is declared but not supplied" in err  # not silently simulated
    assert "error: data 'sigma' is declared but not supplied" in err


def test_check_reports_declared_data_left_out(tmp_path, capsys):
    data = tmp_path / "data.json"
    values = json.loads(Path(DATA).read_text())
    values["Y"] = values.pop("y")
    data.write_text(json.dumps(values))
    assert main(["check", MODEL, "--data", str(data)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"{MODEL}:3:1: error: data 'y' is declared but not supplied\n"
        "   3 | data y: real[J]           # estimated effect in each school\n"
        "       ^^^^^^^^^^^^^^^\n"
        "  hint: the data has 'Y': did you mean 'y'?\n")


def test_run_prior_simulates_data_left_out(tmp_path, capsys):
    data = tmp_path / "data.json"
    values = json.loads(Path(DATA).read_text())
    del values["y"]
    data.write_text(json.dumps(values))
    output = tmp_path / "prior.nc"
    code = main(["run", MODEL, "--data", str(data), "--prior", "--draws", "200", "--seed", "3",
                 "--output", str(output)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "prior summary" in captured.out and "prior predictive summary" in captured.out
    assert "posterior summary" not in captured.out
    for name in ("mu", "tau", "theta[8]", "y[1]"):
        assert name in captured.out
    assert f"draws written to {output}" in captured.out
    fit = ppl.load_fit(output)
    assert set(fit.children) == {"prior", "prior_predictive", "constant_data"}
    assert fit["prior"].sizes["draw"] == 200
    again = ppl.load(MODEL).sample_prior_predictive(values, draws=200, seed=3)
    np.testing.assert_array_equal(fit["prior_predictive"]["y"], again["prior_predictive"]["y"])


def test_run_eight_schools(tmp_path, capsys):
    output = tmp_path / "draws.json"
    code = main(["run", MODEL, "--data", DATA, "--chains", "1", "--draws", "50",
                 "--warmup", "50", "--no-progress", "--seed", "1", "--output", str(output)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "posterior summary" in captured.out
    for name in ("mu", "tau", "theta_raw[1]", "theta[8]"):
        assert name in captured.out
    assert f"draws written to {output}" in captured.out
    assert json.loads(output.read_text())["format"] == "ppl-fit"
    fit = ppl.load_fit(output)
    assert {"posterior", "sample_stats", "observed_data"} <= set(fit.children)
    draws = flat_draws(fit)
    assert set(draws) == {"mu", "tau", *(f"theta_raw[{i}]" for i in range(1, 9)),
                          *(f"theta[{i}]" for i in range(1, 9))}
    assert all(len(chains) == 1 and len(chains[0]) == 50 for chains in draws.values())
    assert all(value > 0 for value in draws["tau"][0])  # the support of half_cauchy


def test_run_interrupted_writes_the_partial_fit_and_exits_130(tmp_path, capsys, monkeypatch):
    """Ctrl-C during sampling (here: the stop flag raised at once, so after the first chunk)
    keeps the draws so far: summary printed, the fit written and marked partial, exit 130."""
    from contextlib import contextmanager

    from ppl.backends import hmc_chains

    @contextmanager
    def stop_at_once():
        yield lambda: True

    monkeypatch.setattr(hmc_chains, "interruptible", stop_at_once)
    output = tmp_path / "draws.nc"
    code = main(["run", MODEL, "--data", DATA, "--chains", "2", "--draws", "100000",
                 "--warmup", "0", "--no-progress", "--seed", "1", "--output", str(output)])
    captured = capsys.readouterr()
    assert code == 130, captured.err
    fit = ppl.load_fit(output)
    kept = fit.posterior.sizes["draw"]
    assert 0 < kept < 100000 and fit.attrs["partial"] == 1
    assert "posterior summary" in captured.out
    assert f"partial fit ({kept} of 100000 draws per chain) written to {output}" in captured.out
    assert "interrupted" in captured.out + captured.err


def test_run_same_seed_same_draws_with_options_predictive_and_netcdf(tmp_path, capsys):
    """`-o` values are converted (0.9 a float, false a bool), --predictive adds the posterior
    predictive, .nc round-trips, and the same seed gives the same draws."""
    outputs = [tmp_path / "a.nc", tmp_path / "b.nc"]
    for output in outputs:
        code = main(["run", MODEL, "--data", DATA, "--chains", "2", "--draws", "60",
                     "--warmup", "60", "--no-progress", "--seed", "7", "--predictive",
                     "-o", "target_accept=0.9", "-o", "dense_mass=false", "--output", str(output)])
        assert code == 0, capsys.readouterr().err
    first, second = (ppl.load_fit(o) for o in outputs)
    assert first.attrs["target_accept"] == 0.9 and first.attrs["dense_mass"] == 0
    assert np.asarray(first["sampler_state"]["inverse_mass_matrix"]).ndim == 2  # diagonal
    assert "posterior_predictive" in first.children
    for group in ("posterior", "posterior_predictive"):
        for name, values in first[group].data_vars.items():
            np.testing.assert_array_equal(values, second[group][name])


def test_run_with_another_backend(tmp_path, capsys):
    code = main(["run", MODEL, "--data", DATA, "--backend", "map", "--draws", "50",
                 "--seed", "2", "-o", "num_starts=2"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "summary" in captured.out and "mu" in captured.out


def test_installed_script(bad_model):
    script = Path(sys.executable).with_name("ppl")
    assert script.exists(), "the `ppl` script is not installed next to the Python executable"
    result = subprocess.run([str(script), "check", "bad.ppl"], cwd=bad_model.parent,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == EXPECTED_BAD
