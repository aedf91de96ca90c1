"""The command line: `ppl check | ir | backends | run`, exit codes 0 (ok), 1 (model or data
error, a clean message on stderr) and 2 (usage). Runs `ppl.cli.main` in-process; one test runs
the installed `ppl` script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import ppl
from ppl.cli import main

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


def test_run_with_a_data_error(tmp_path, capsys):
    data = tmp_path / "data.json"
    data.write_text('{"J": 8}')
    assert main(["run", MODEL, "--data", str(data), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "error: data 'y' is missing" not in err  # y is observable: left out, simulated
    assert "error: data 'sigma' is missing" in err


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
    draws = json.loads(output.read_text())
    assert set(draws) == {"mu", "tau", *(f"theta_raw[{i}]" for i in range(1, 9)),
                          *(f"theta[{i}]" for i in range(1, 9))}
    assert all(len(chains) == 1 and len(chains[0]) == 50 for chains in draws.values())
    assert all(value > 0 for value in draws["tau"][0])  # the support of half_cauchy


def test_installed_script(bad_model):
    script = Path(sys.executable).with_name("ppl")
    assert script.exists(), "the `ppl` script is not installed next to the Python executable"
    result = subprocess.run([str(script), "check", "bad.ppl"], cwd=bad_model.parent,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == EXPECTED_BAD
