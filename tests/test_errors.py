"""User mistakes and their messages, as golden files.

Each ``tests/golden/errors/NAME.ppl`` is a model with a mistake; ``NAME.json`` or ``NAME.csv``
next to it, when present, is its data. ``NAME.expected`` holds the exact rendered error:
``file:line:col: error: message``, the source line, a caret and the hint. Run the tests with
``PPL_UPDATE_GOLDEN=1`` to rewrite the expected files after a deliberate change, and review the
difference by eye: a message must point at the right place and say how to fix it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import ppl
import ppl.cli
from ppl.data import read_data_file

ERRORS = Path(__file__).resolve().parent / "golden" / "errors"
CASES = sorted(p.stem for p in ERRORS.glob("*.ppl"))


def _data_file(stem: str) -> str | None:
    for suffix in (".json", ".csv"):
        if (ERRORS / (stem + suffix)).exists():
            return stem + suffix
    return None


def _error_of(stem: str) -> ppl.PPLError:
    """The error that loading the model (and binding its data, if any) raises."""
    text = (ERRORS / f"{stem}.ppl").read_text()
    data_file = _data_file(stem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ppl.PPLError) as info:
            model = ppl.model(text, name=f"{stem}.ppl")
            if data_file is not None:
                model.compile(read_data_file(data_file))  # relative: the golden folder
    return info.value


def test_there_are_enough_cases():
    assert len(CASES) >= 20


@pytest.mark.parametrize("stem", CASES)
def test_error_message(stem, golden, monkeypatch):
    monkeypatch.chdir(ERRORS)
    error = _error_of(stem)
    rendered = str(error)
    golden(ERRORS / f"{stem}.expected", rendered + "\n")
    for diagnostic in error.diagnostics:  # every message says how to fix it
        assert diagnostic.hint, diagnostic
        assert diagnostic.severity == "error"
    assert "Traceback" not in rendered


@pytest.mark.parametrize("stem", CASES)
def test_cli_check_prints_the_same_message(stem, capsys, monkeypatch):
    """`ppl check` prints exactly the golden text on stderr, unwrapped, and exits with 1."""
    monkeypatch.chdir(ERRORS)
    args = ["check", f"{stem}.ppl"]
    if _data_file(stem):
        args += ["--data", _data_file(stem)]
    assert ppl.cli.main(args) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (ERRORS / f"{stem}.expected").read_text()


def test_error_kinds(monkeypatch):
    monkeypatch.chdir(ERRORS)
    assert type(_error_of("unknown_name")) is ppl.ModelError
    assert type(_error_of("syntax_arrow")) is ppl.ModelError
    assert type(_error_of("data_missing")) is ppl.DataError
    assert type(_error_of("bad_data_file")) is ppl.DataError


def test_independent_errors_are_reported_together():
    error = _error_of("many_errors")
    lines = [d.span.line for d in error.diagnostics]
    assert lines == [4, 5, 6, 7]
    assert len(str(error).split("\n\n")) == 4


def test_errors_carry_positions():
    error = _error_of("unknown_name")
    (diagnostic,) = error.diagnostics
    span = diagnostic.span
    assert (span.line, span.column, span.end_line, span.end_column) == (6, 16, 6, 20)
    assert diagnostic.message == "unknown name 'sigam'"
    assert diagnostic.hint == "did you mean 'sigma'?"


def test_caret_keeps_tabs():
    with pytest.raises(ppl.ModelError) as info:
        ppl.model("data N: int\n\tmu ~ normall(0, 1)\n")
    assert str(info.value).splitlines()[2] == "       \t     ^^^^^^^"


def test_line_endings_and_form_feeds():
    """Lines end at '\n' only, as the parser counts them: a CRLF file shows no '\r', and a form
    feed (a space to the grammar) does not start a new line."""
    with pytest.raises(ppl.ModelError) as info:
        ppl.model("data N: int\r\n\fmu ~ normall(0, 1)\r\n")
    assert str(info.value).split("\n")[:3] == [
        "<string>:2:7: error: unknown distribution 'normall'",
        "   2 | \fmu ~ normall(0, 1)",
        "             ^^^^^^^",
    ]


def test_error_without_source_location():
    with pytest.raises(ppl.PPLError) as info:
        ppl.model("mu ~ normal(0, 1)").sample(draws=0)
    assert str(info.value) == ("<model>: error: draws must be an integer >= 1, not 0\n"
                               "  hint: pass draws=1000 or similar")


def test_unreadable_model_file(tmp_path):
    with pytest.raises(ppl.ModelError) as info:
        ppl.load(tmp_path / "missing.ppl")
    assert str(info.value) == (f"{tmp_path / 'missing.ppl'}: error: cannot read the model "
                               "file: No such file or directory\n  hint: check the path")


def test_a_model_file_that_is_not_utf8_is_a_clean_error(tmp_path):
    path = tmp_path / "m.ppl"
    path.write_bytes(b"x ~ normal(0, 1)  # caf\xe9\n")
    with pytest.raises(ppl.ModelError) as info:
        ppl.load(path)
    assert info.value.diagnostics[0].message == ("the model file is not UTF-8 text: byte 0xe9 "
                                                 "on line 1 cannot be decoded")


# Guides (tests/golden/errors/guides/NAME.ppl): each is a variational guide for
# examples/eight_schools.ppl with a mistake; NAME.expected holds the error that compiling it
# against the model with examples/eight_schools.json raises.
ROOT = ERRORS.parents[2]
GUIDES = ERRORS / "guides"
GUIDE_CASES = sorted(p.stem for p in GUIDES.glob("*.ppl"))


def _guide_error_of(stem: str) -> ppl.PPLError:
    from ppl.codegen.guide import compile_guide

    model = ppl.load("examples/eight_schools.ppl")
    compiled = model.compile(read_data_file("examples/eight_schools.json"))
    with pytest.raises(ppl.PPLError) as info:
        compile_guide(compiled, f"tests/golden/errors/guides/{stem}.ppl")
    return info.value


def test_there_are_guide_cases():
    assert len(GUIDE_CASES) >= 6


@pytest.mark.parametrize("stem", GUIDE_CASES)
def test_guide_error_message(stem, golden, monkeypatch):
    monkeypatch.chdir(ROOT)
    error = _guide_error_of(stem)
    rendered = str(error)
    golden(GUIDES / f"{stem}.expected", rendered + "\n")
    for diagnostic in error.diagnostics:
        assert diagnostic.hint, diagnostic
        assert diagnostic.span.line > 0, diagnostic  # located
    assert type(error) is ppl.ModelError
    assert "Traceback" not in rendered


def test_the_vi_backend_raises_the_guide_error(monkeypatch):
    """``Model.sample(backend="vi", guide=...)`` raises the error before any fitting."""
    monkeypatch.chdir(ROOT)
    model = ppl.load("examples/eight_schools.ppl")
    with pytest.raises(ppl.ModelError) as info:
        model.sample(read_data_file("examples/eight_schools.json"), backend="vi",
                     guide="tests/golden/errors/guides/wrong_support.ppl")
    assert str(info.value) + "\n" == (GUIDES / "wrong_support.expected").read_text()
