"""The Pygments lexer (ppl/lexer.py): every model file in the repository lexes without Error
tokens and round-trips; word lists come from the grammar and the registries; the lexer is
found by name and file name through the `pygments.lexers` entry point."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, Punctuation

from ppl.lexer import DISTRIBUTION_NAMES, FUNCTION_NAMES, KEYWORDS, TYPES, PplLexer
from ppl.library import DISTRIBUTIONS, FUNCTIONS

ROOT = Path(__file__).resolve().parents[1]
MODEL_FILES = sorted(p for folder in ("examples", "benchmarks", "tests")
                     for p in (ROOT / folder).rglob("*.ppl"))


def tokens(text: str) -> list[tuple]:
    return list(PplLexer(stripnl=False, ensurenl=False).get_tokens(text))


def kinds(text: str) -> dict[str, object]:
    """The token type of each non-blank token value (the last one wins)."""
    return {value: kind for kind, value in tokens(text) if value.strip()}


def test_there_are_model_files():
    assert len(MODEL_FILES) >= 10
    assert ROOT / "examples" / "eight_schools.ppl" in MODEL_FILES


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_model_file_lexes_without_errors_and_round_trips(path):
    text = path.read_text()
    result = tokens(text)
    errors = [(kind, value) for kind, value in result if kind in Error]
    assert not errors, f"{path}: {errors[:5]}"
    assert "".join(value for _, value in result) == text


def test_word_lists_come_from_the_grammar_and_the_registries():
    assert {"data", "param", "for", "in", "target"} <= set(KEYWORDS)
    assert {"int", "real", "vector", "matrix"} <= set(TYPES)
    assert not set(KEYWORDS) & set(TYPES)
    assert DISTRIBUTION_NAMES == sorted(DISTRIBUTIONS)
    assert set(FUNCTIONS) <= set(FUNCTION_NAMES)
    assert {"normal_lpdf", "poisson_lpmf"} <= set(FUNCTION_NAMES)


def test_every_distribution_and_function_is_highlighted_when_called():
    for name in DISTRIBUTIONS:
        assert kinds(f"x ~ {name}(1)\n")[name] is Name.Builtin, name
    for name in FUNCTIONS:
        assert kinds(f"x = {name}(y)\n")[name] is Name.Function, name


def test_names_that_are_not_called_stay_names():
    found = kinds("beta ~ normal(0, 1)\nsd = 2 * beta\n")
    assert found["beta"] is Name
    assert found["sd"] is Name
    assert found["normal"] is Name.Builtin


def test_token_kinds():
    text = ("# eight schools\n"
            "data J: int >= 1\n"
            "param s: real > 0\n"
            "z: vector[J] ~ normal(0, 1.5e-1)\n"
            "m = X[:, 2:J] .* w\n"
            "y[n] ~ normal(mu[n], .5) for n in 1:J\n"
            "target += -0.5 * z\n")
    found = kinds(text)
    assert found["# eight schools"] in Comment
    assert found["data"] is Keyword.Declaration
    assert found["J"] is Name  # the last J is a use, not a declaration
    assert found["s"] is Name.Variable
    assert found["int"] is Keyword.Type and found["real"] is Keyword.Type
    assert found["vector"] is Keyword.Type
    assert found["for"] is Keyword and found["in"] is Keyword and found["target"] is Keyword
    assert found["1"] is Number.Integer
    assert found["1.5e-1"] is Number.Float and found[".5"] is Number.Float
    assert found["0.5"] is Number.Float
    for op in ("~", "=", ">=", ">", "+=", ".*", "*", "-"):
        assert found[op] is Operator, op
    assert dict((v, k) for k, v in tokens("q = x' * A * x\n"))["'"] is Operator
    for p in ("(", ")", "[", "]", ",", ":"):
        assert found[p] is Punctuation, p


def test_text_outside_the_language_is_not_an_error():
    result = tokens("model {\n  mu ~ normal(0, 1); $ µ\n}\n")
    assert not [value for kind, value in result if kind in Error]


def test_found_by_name_and_file_name():
    assert isinstance(get_lexer_by_name("ppl"), PplLexer)
    assert isinstance(get_lexer_for_filename("model.ppl"), PplLexer)


def test_entry_point_is_registered():
    found = {ep.name: ep.value for ep in entry_points(group="pygments.lexers")}
    assert found.get("ppl") == "ppl.lexer:PplLexer"
