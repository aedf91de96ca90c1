"""The README's quick start stays true: two commands, and CI runs the test one verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_is_two_commands_install_and_run_then_install_and_test():
    commands = _quick_start_commands()
    assert len(commands) == 2
    run, test = commands
    assert "pip install ." in run and "ppl run examples/" in run
    assert 'pip install ".[test]"' in test and test.rstrip().endswith("pytest")


def test_ci_runs_the_readme_test_command_in_a_fresh_venv():
    ci = (ROOT / ".ci" / "run").read_text()
    test = _quick_start_commands()[1]
    assert test in ci.splitlines()
    assert "rm -rf .venv" in ci  # a fresh environment, whatever was there before


def test_example_named_in_the_quick_start_exists():
    run = _quick_start_commands()[0]
    for path in re.findall(r"examples/\S+", run):
        assert (ROOT / path).is_file(), path
