"""Parsing: every statement form, located syntax errors, the pretty-printer round trip, and
robustness properties (generated and mutated sources only ever raise ``ppl.PPLError``)."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import jax
import lark
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

import ppl
from ppl.frontend import ast, pretty
from ppl.frontend.parse import _grammar_text, parse
from ppl.source import Source, Span

PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def program(text: str) -> ast.Program:
    return parse(Source(text))


def one(text: str) -> ast.Statement:
    statements = program(text).statements
    assert len(statements) == 1
    return statements[0]


def expr(text: str) -> ast.Expr:
    statement = one(f"x = {text}\n")
    assert isinstance(statement, ast.Define)
    return statement.expr


N, K, J = ast.Name("N"), ast.Name("K"), ast.Name("J")


def num(value):
    return ast.Number(value)


def name(id_):
    return ast.Name(id_)


def call(func, *args, **kwargs):
    arguments = [ast.Argument(a) for a in args]
    arguments += [ast.Argument(v, k) for k, v in kwargs.items()]
    return ast.Call(func, tuple(arguments))


# ------------------------------------------------------------------------- statement forms


@pytest.mark.parametrize("text, expected", [
    ("data N: int >= 0", ast.DataDecl("N", ast.TypeSpec("int"), ast.Bounds(lower=num(0)))),
    ("data N: int > 0",
     ast.DataDecl("N", ast.TypeSpec("int"), ast.Bounds(lower=num(0), lower_strict=True))),
    ("data y: real[N]", ast.DataDecl("y", ast.TypeSpec("real", (N,)), None)),
    ("data y: vector[N]", ast.DataDecl("y", ast.TypeSpec("vector", (N,)), None)),
    ("data g: int[N]", ast.DataDecl("g", ast.TypeSpec("int", (N,)), None)),
    ("data X: matrix[N, K]", ast.DataDecl("X", ast.TypeSpec("matrix", (N, K)), None)),
    ("data A: real[N, K]", ast.DataDecl("A", ast.TypeSpec("real", (N, K)), None)),
    ("data p: real in [0, 1]",
     ast.DataDecl("p", ast.TypeSpec("real"), ast.Bounds(lower=num(0), upper=num(1)))),
    ("data p: real < 1",
     ast.DataDecl("p", ast.TypeSpec("real"), ast.Bounds(upper=num(1), upper_strict=True))),
    ("data p: real <= 1", ast.DataDecl("p", ast.TypeSpec("real"), ast.Bounds(upper=num(1)))),
    ("data s: real[J] > 0",
     ast.DataDecl("s", ast.TypeSpec("real", (J,)), ast.Bounds(lower=num(0), lower_strict=True))),
    ("param beta: vector[K]", ast.ParamDecl("beta", ast.TypeSpec("vector", (K,)), None)),
    ("param s: real > 0",
     ast.ParamDecl("s", ast.TypeSpec("real"), ast.Bounds(lower=num(0), lower_strict=True))),
    ("mu ~ normal(0, 5)", ast.Sample("mu", call("normal", num(0), num(5)))),
    ("mu ~ normal(mu = 0, sigma = 1)",
     ast.Sample("mu", call("normal", mu=num(0), sigma=num(1)))),
    ("s ~ half_flat()", ast.Sample("s", call("half_flat"))),
    ("z: vector[J] ~ normal(0, 1)",
     ast.Sample("z", call("normal", num(0), num(1)), type=ast.TypeSpec("vector", (J,)))),
    ("w: real in [0, 1] ~ beta(2, 2)",
     ast.Sample("w", call("beta", num(2), num(2)), type=ast.TypeSpec("real"),
                bounds=ast.Bounds(lower=num(0), upper=num(1)))),
    ("y[n] ~ normal(a + b * x[n], s) for n in 1:N",
     ast.Sample("y", call("normal", ast.Binary("+", name("a"), ast.Binary(
         "*", name("b"), ast.Index(name("x"), (name("n"),)))), name("s")),
                index_var="n", comprehension=ast.Comprehension("n", num(1), N))),
    ("theta = mu + tau * z",
     ast.Define("theta", ast.Binary("+", name("mu"), ast.Binary("*", name("tau"), name("z"))))),
    ("eta[n] = a[g[n]] for n in 2:N",
     ast.Define("eta", ast.Index(name("a"), (ast.Index(name("g"), (name("n"),)),)),
                index_var="n", comprehension=ast.Comprehension("n", num(2), N))),
    ("target += -0.5 * square(x)",
     ast.TargetIncrement(ast.Binary("*", ast.Unary("-", num(0.5)), call("square", name("x"))))),
])
def test_statement_forms(text, expected):
    assert one(text + "\n") == expected
    assert one(text) == expected  # no final newline needed


@pytest.mark.parametrize("text, expected", [
    ("1 + 2 * 3", ast.Binary("+", num(1), ast.Binary("*", num(2), num(3)))),
    ("(1 + 2) * 3", ast.Binary("*", ast.Binary("+", num(1), num(2)), num(3))),
    ("a - b - c", ast.Binary("-", ast.Binary("-", name("a"), name("b")), name("c"))),
    ("a ^ b ^ c", ast.Binary("^", name("a"), ast.Binary("^", name("b"), name("c")))),
    ("-a ^ 2", ast.Unary("-", ast.Binary("^", name("a"), num(2)))),
    ("a ^ -b", ast.Binary("^", name("a"), ast.Unary("-", name("b")))),
    ("a .* b ./ c % d", ast.Binary("%", ast.Binary("./", ast.Binary(".*", name("a"), name("b")),
                                                   name("c")), name("d"))),
    ("a < b || c >= d && !e",
     ast.Binary("||", ast.Binary("<", name("a"), name("b")),
                ast.Binary("&&", ast.Binary(">=", name("c"), name("d")),
                           ast.Unary("!", name("e"))))),
    ("a == b", ast.Binary("==", name("a"), name("b"))),
    ("a != b", ast.Binary("!=", name("a"), name("b"))),
    ("X[i, j]", ast.Index(name("X"), (name("i"), name("j")))),
    ("X[:, j]", ast.Index(name("X"), (ast.Slice(None, None), name("j")))),
    ("x[2:N]", ast.Index(name("x"), (ast.Slice(num(2), N),))),
    ("X[2:, 1:3]", ast.Index(name("X"), (ast.Slice(num(2), None), ast.Slice(num(1), num(3))))),
    ("x[:N]", ast.Index(name("x"), (ast.Slice(None, N),))),
    ("alpha[county]", ast.Index(name("alpha"), (name("county"),))),
    ("x[1][2]", ast.Index(ast.Index(name("x"), (num(1),)), (num(2),))),
    ("[1, 2.5, x]", ast.ArrayLiteral((num(1), num(2.5), name("x")))),
    ("min(x, y)", call("min", name("x"), name("y"))),
    ("exp(log(x))", call("exp", call("log", name("x")))),
    ("1.", num(1.0)),
    (".5", num(0.5)),
    ("1e3", num(1000.0)),
    ("2E-2", num(0.02)),
    ("007", num(7)),
])
def test_expressions(text, expected):
    assert expr(text) == expected


def test_number_kinds():
    assert expr("3").is_int and isinstance(expr("3").value, int)
    assert not expr("3.0").is_int and not expr("3e0").is_int


def test_layout_comments_blank_lines_and_wrapping():
    text = (
        "# a comment on its own line\n"
        "\n"
        "data N: int   # trailing comment\n"
        "mu ~ normal(0,\n"
        "            10)   # a call may wrap inside brackets\n"
        "x = [1,\n"
        "     2]\n"
        "y = 1 + \\\n"
        "    2\n"
        "\r\n"
        "z = 3\r\n"
    )
    statements = program(text).statements
    assert [type(s).__name__ for s in statements] == [
        "DataDecl", "Sample", "Define", "Define", "Define"]
    assert statements[1].dist == call("normal", num(0), num(10))
    assert statements[3].expr == ast.Binary("+", num(1), num(2))
    assert program("") == ast.Program(())
    assert program("\n\n# only a comment\n") == ast.Program(())


@pytest.mark.parametrize("text, same_as", [
    ("x = a +\n    b\n", "x = a + b\n"),                 # the line ends with an operator
    ("x = a\n    + b\n", "x = a + b\n"),               # the next line begins with one
    ("x = a\n    - b * c\n", "x = a - b * c\n"),       # '-': no statement begins with it
    ("x = a *\n  # a comment\n\n  b\n", "x = a * b\n"),  # comments and blank lines between
    ("x = a\n  # a comment\n\n  ./ b\n", "x = a ./ b\n"),
    ("x = a &&\n b\n", "x = a && b\n"),
    ("x = a\n || b\n", "x = a || b\n"),
    ("x = a\n == b\n", "x = a == b\n"),
    ("x = a\n ^ b\n", "x = a ^ b\n"),
    ("x = if a then b\n    else c\n", "x = if a then b else c\n"),
    ("x = if a\n    then b\n    else c\n", "x = if a then b else c\n"),
    ("y[n] ~ normal(0, 1)\n    for n in 1:N\n", "y[n] ~ normal(0, 1) for n in 1:N\n"),
    ("x[n] = n\n    for n in 1:N\n", "x[n] = n for n in 1:N\n"),
    ("x = a\nfor_x = 2\n", "x = a\nfor_x = 2\n"),        # a name that begins with 'for'
    ("x = a\nelsewhere = 2\n", "x = a\nelsewhere = 2\n"),
])
def test_continuation_lines(text, same_as):
    assert program(text) == program(same_as)


def test_continued_lines_keep_their_positions():
    statement = one("x = a\n    + b_2\n")
    assert (statement.expr.right.span.line, statement.expr.right.span.column) == (2, 7)
    assert (statement.span.line, statement.span.end_line) == (1, 2)


@pytest.mark.parametrize("text, where, hint", [
    # the operator at the end of line 1 makes line 2 part of its statement
    ("x = a +\ny ~ normal(0, 1)\n", "2:3", "line 1 ends with '+'"),
    ("x = a\n    + b c\n", "2:9", "expected"),
    ("x = a\n    +\n", "2:5", "the model ends in the middle of a statement"),
])
def test_errors_after_continued_lines(text, where, hint):
    with pytest.raises(ppl.ModelError) as info:
        program(text)
    assert f"<string>:{where}:" in str(info.value)
    assert hint in str(info.value)


def test_spans_point_at_the_source():
    statements = program("data N: int\n  mu ~ normal(0, 1)\n").statements
    assert (statements[0].name_span.line, statements[0].name_span.column) == (1, 6)
    sample = statements[1]
    span, name_span = sample.span, sample.name_span
    assert (span.line, span.column, span.end_line, span.end_column) == (2, 3, 2, 19)
    assert (name_span.line, name_span.column, name_span.end_column) == (2, 3, 4)
    assert (sample.dist.func_span.column, sample.dist.func_span.end_column) == (8, 13)


def test_spans_compare_equal_by_design():
    assert Span(1, 2, 3, 4) == Span(9, 9, 9, 9)
    assert program("mu ~ normal(0, 1)\n") == program("\n\n   mu   ~   normal( 0 ,1 )  # c\n")
    assert program("mu ~ normal(0, 1)\n") != program("mu ~ normal(0, 2)\n")


# -------------------------------------------------------------------------- syntax errors


@pytest.mark.parametrize("text, line, column", [
    ("mu ~ normal(0, 1\nsigma ~ half_normal(1)\n", 1, 12),  # unclosed '(' is reported there
    ("mu ~ normal(0, 1", 1, 12),
    ("data N: int\nmu ~ normal(0, 1) $\n", 2, 19),
    ("mu <- 3\n", 1, 4),
    ("mu ~ normal(0, 1);\n", 1, 18),
    ("data N int\n", 1, 8),
    ("mu ~ normal(0 1)\n", 1, 15),
    ("x = 2 ** 3\n", 1, 7),
    ("mu ~ normal(0, 1))\n", 1, 18),
    ("\n\n  target = 3\n", 3, 10),
])
def test_syntax_errors_are_located(text, line, column):
    with pytest.raises(ppl.ModelError) as info:
        program(text)
    (diagnostic,) = info.value.diagnostics
    assert (diagnostic.span.line, diagnostic.span.column) == (line, column)
    assert diagnostic.hint
    rendered = str(info.value)
    assert rendered.startswith(f"<string>:{line}:{column}: error: ")
    assert "Traceback" not in rendered


# --------------------------------------------------------------------- pretty round trip

MODELS = {
    "regression": """
data N: int >= 0
data K: int >= 1
data X: matrix[N, K]
data y: vector[N]
alpha ~ normal(0, 10)
beta: vector[K] ~ normal(0, 2.5)
sigma ~ half_normal(1)
mu = alpha + X * beta
y ~ normal(mu, sigma)
""",
    "logistic": """
data N: int
data K: int
data X: matrix[N, K]
data y: int[N] in [0, 1]
alpha ~ normal(0, 1)
beta: vector[K] ~ normal(0, 1)
y ~ bernoulli_logit(alpha + X * beta)
""",
    "poisson": """
data N: int
data x: vector[N]
data counts: int[N] >= 0
a ~ normal(0, 1)
b ~ normal(0, 1)
counts ~ poisson_log(a + b * x)
""",
    "categorical": """
data N: int
data K: int
data y: int[N]
theta: vector[K] ~ dirichlet([1, 1, 1])
y ~ categorical(theta)
""",
    "hierarchical": """
data N: int
data G: int
data g: int[N] in [1, G]
data y: vector[N]
mu ~ normal(0, 5)
tau ~ half_cauchy(2)
a: vector[G] ~ normal(mu, tau)
s ~ exponential(1)
y[n] ~ normal(a[g[n]], s) for n in 1:N
eta[n] = a[g[n]] - mu for n in 1:N
""",
    "transformed": """
data N: int
data y: vector[N] > 0
log_y = log(y)
centred = log_y - mean(log_y)
param m: real
param s: real > 0
s ~ lognormal(0, 1)
log_y ~ normal(m, s)
target += -0.5 * (m / 10)^2
ok = centred[1:2] .* centred[2:3] ./ (1 + abs(centred[1]))
""",
}

DATA = {
    "regression": {"N": 4, "K": 2, "X": np.arange(8.0).reshape(4, 2) / 8,
                   "y": [0.1, -0.3, 0.5, 1.0]},
    "logistic": {"N": 3, "K": 2, "X": [[1.0, 0.5], [0.2, -1.0], [0.0, 0.3]], "y": [0, 1, 1]},
    "poisson": {"N": 3, "x": [0.0, 0.5, 1.0], "counts": [1, 0, 4]},
    "categorical": {"N": 4, "K": 3, "y": [1, 3, 2, 3]},
    "hierarchical": {"N": 5, "G": 2, "g": [1, 2, 2, 1, 2], "y": [0.3, 1.2, 0.8, -0.1, 1.1]},
    "transformed": {"N": 3, "y": [1.0, 2.0, 4.0]},
}


def _example_sources() -> list[tuple[str, str, dict | None]]:
    out = []
    for path in sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.ppl")):
        data_path = path.with_suffix(".json")
        data = json.loads(data_path.read_text()) if data_path.exists() else None
        out.append((path.name, path.read_text(), data))
    return out


EXAMPLE_SOURCES = _example_sources()
CASES = [(k, MODELS[k], DATA[k]) for k in MODELS] + [
    c for c in EXAMPLE_SOURCES if c[2] is not None]


def test_there_are_examples():
    assert any(n == "eight_schools.ppl" for n, _, _ in EXAMPLE_SOURCES)


@pytest.mark.parametrize("label, text", [(k, v) for k, v in MODELS.items()]
                         + [(n, t) for n, t, _ in EXAMPLE_SOURCES])
def test_round_trip_of_models(label, text):
    tree = program(text)
    printed = pretty.program(tree)
    assert parse(Source(printed)) == tree
    assert pretty.program(parse(Source(printed))) == printed  # printing is a fixed point


@pytest.mark.parametrize("label, text, data", CASES, ids=[c[0] for c in CASES])
def test_models_check_and_compile(label, text, data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the test data uses every entry
        compiled = ppl.model(text).compile(data)
    value = jax.jit(compiled.log_density)(np.zeros(compiled.dimension))
    assert value.shape == () and np.isfinite(float(value))


@pytest.mark.parametrize("text, printed", [
    ("x = (a^b)^c", "x = (a^b)^c\n"),
    ("x = (-a)^2", "x = (-a)^2\n"),
    ("x = -a^2", "x = -a^2\n"),
    ("x = a - (b - c)", "x = a - (b - c)\n"),
    ("x = (a < b) == c", "x = (a < b) == c\n"),
    ("x = !(a && b)", "x = !(a && b)\n"),
    ("x = (a + b)[1]", "x = (a + b)[1]\n"),
    ("x = 1e999", "x = 1e999\n"),
    ("x = 1.", "x = 1.0\n"),
    ("y[n] ~ normal(mu = 0, sigma = 1) for n in 1:N",
     "y[n] ~ normal(mu = 0, sigma = 1) for n in 1:N\n"),
    ("z: vector[J] > 0 ~ gamma(2, 2)", "z: vector[J] > 0 ~ gamma(2, 2)\n"),
])
def test_pretty_output(text, printed):
    assert pretty.program(program(text)) == printed
    assert program(printed) == program(text)


# Expressions shaped as the parser builds them (numbers are never negative: `-1` is a Unary).
_NAMES = st.sampled_from(["a", "b", "x", "N", "mu", "sigma_2"])
_LEAVES = st.one_of(
    _NAMES.map(ast.Name),
    st.integers(0, 2**63 - 1).map(ast.Number),  # the largest integer literal
    st.floats(0, None, allow_nan=False, allow_infinity=False).map(ast.Number),
)


def _extend(children):
    binary_ops = st.sampled_from(sorted(pretty._PRECEDENCE))
    argument = st.builds(ast.Argument, children, st.none() | _NAMES)
    index_item = children | st.builds(ast.Slice, st.none() | children, st.none() | children)
    conditional = getattr(ast, "Conditional", None)  # `if c then a else b`, where supported
    return st.one_of(
        *([st.builds(conditional, children, children, children)] if conditional else []),
        st.builds(ast.Binary, binary_ops, children, children),
        st.builds(ast.Unary, st.sampled_from(["-", "!"]), children),
        st.builds(ast.Call, st.sampled_from(["f", "normal", "exp"]),
                  st.lists(argument, max_size=3).map(tuple)),
        st.builds(ast.Index, children, st.lists(index_item, min_size=1, max_size=3).map(tuple)),
        st.builds(ast.ArrayLiteral, st.lists(children, min_size=1, max_size=3).map(tuple)),
    )


EXPRESSIONS = st.recursive(_LEAVES, _extend, max_leaves=12)


@PROPERTY
@given(EXPRESSIONS)
def test_round_trip_of_generated_expressions(e):
    printed = pretty.expr(e)
    assert expr(printed) == e, printed


# ------------------------------------------------------ generated sources from the grammar

_GRAMMAR = lark.Lark(_grammar_text(), parser="lalr")
# Names for NAME tokens, including some the checker rejects ("in" is a keyword only where the
# grammar expects one; "target" is left out: it is always the keyword at a statement's start).
_SOURCE_NAMES = ["x", "y", "z", "N", "K", "mu", "sigma", "theta", "n", "normal", "exp", "sum",
                 "dot", "dirichlet", "poisson", "beta", "in", "int"]


# Examples of the pattern terminals (drawing from their regexes is slow); any that no longer
# fits the grammar is dropped, and a terminal without examples falls back to its regex.
_SAMPLES = [">=", ">", "<=", "<", "==", "!=", "+", "-", ".*", "./", "*", "/", "%", "0", "1", "2",
            "10", "0.5", "1.", "1e3", ".25", "2E-2", "007", "1e999", " ", "\t", "\f", "\\\n",
            "\\ \n"]


def _terminal_strategy(terminal: lark.lexer.TerminalDef):
    """Each token padded with spaces, so that `data` and a name never run together."""
    if terminal.name == "NAME":
        return st.sampled_from(_SOURCE_NAMES).map(lambda s: f" {s} ")
    if terminal.name == "_NL":
        return st.sampled_from(["\n", "\r\n", "  # comment\n"])
    if terminal.name == "COMMENT":
        return st.just(" ")
    if terminal.pattern.type == "str":
        return st.just(f" {terminal.pattern.value} ")
    regex = terminal.pattern.to_regexp()
    samples = [s for s in _SAMPLES if re.fullmatch(regex, s)]
    if samples:
        return st.sampled_from(samples).map(lambda s: f" {s} ")
    return st.from_regex(regex, fullmatch=True).map(lambda s: f" {s} ")


GRAMMAR_SOURCES = from_lark(_GRAMMAR, explicit={
    t.name: _terminal_strategy(t) for t in _GRAMMAR.terminals})


def _assert_located(error: ppl.PPLError, text: str) -> None:
    """Every diagnostic renders and points inside the source (or nowhere, line 0)."""
    rendered = str(error)
    assert rendered and "Traceback" not in rendered
    lines = [line.removesuffix("\r") for line in text.split("\n")]  # as the parser counts
    for d in error.diagnostics:
        assert d.message
        assert 0 <= d.span.line <= len(lines), (d, text)
        if d.span.line:
            assert d.span.column >= 1, (d, text)
            assert d.span.column <= len(lines[d.span.line - 1]) + 1, (d, text)


@settings(PROPERTY, max_examples=100)  # drawing from the grammar is slow: fewer examples
@given(GRAMMAR_SOURCES)
def test_generated_sources(text):
    """Sources drawn from the grammar always parse and round-trip through the pretty-printer;
    checking them (through the public API) succeeds or raises a located ``PPLError``."""
    tree = parse(Source(text))
    assert parse(Source(pretty.program(tree))) == tree
    try:
        model = ppl.model(text)
    except ppl.PPLError as error:
        _assert_located(error, text)
        return
    assert model.program == tree
    assert isinstance(model.ir(), str)


# ------------------------------------------------------------------------ mutated sources

_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_]*|\d+\.?\d*|\.\*|\./|[<>=!]=|&&|\|\||\+=|\S")
_EXTRA_TOKENS = ["data", "param", "for", "in", "target", "+=", "~", "=", ":", ",", "(", ")",
                 "[", "]", "+", "-", "*", "^", "<", ">=", "!", "&&", "1", "0", "2.5", "1:N",
                 "int", "real", "vector", "matrix", "normal", "poisson", "exp", "N", "\n", ";"]
_NAME_POOL = ["N", "K", "x", "y", "normal", "poisson", "bernoulli", "categorical", "dirichlet",
              "half_normal", "multi_normal", "lkj_corr_cholesky", "flat", "exp", "sum", "dot",
              "softmax", "min", "int", "real", "vector", "matrix", "data", "param", "target"]
_NUMBER_POOL = ["0", "1", "2", "3", "0.5", "1.5", "100", "-1"]
_CHARACTERS = list("()[]{},:;~=+-*/^<>!&|.#$0123456789 \nabcNxy_\t\\")


@st.composite
def mutated_cases(draw):
    label, text, data = draw(st.sampled_from(CASES))
    for _ in range(draw(st.integers(1, 3))):
        tokens = [m.span() for m in _TOKEN.finditer(text)]
        pool = None
        kind = draw(st.sampled_from(["delete", "insert", "swap", "delete_token",
                                     "duplicate_token", "replace_token", "swap_tokens",
                                     "replace_name", "replace_number"]))
        if kind in ("delete", "insert", "swap"):
            i = draw(st.integers(0, max(0, len(text) - 1)))
            if kind == "delete":
                text = text[:i] + text[i + 1:]
            elif kind == "insert":
                text = text[:i] + draw(st.sampled_from(_CHARACTERS)) + text[i:]
            else:
                text = text[:i] + text[i + 1: i + 2] + text[i: i + 1] + text[i + 2:]
            continue
        if kind in ("replace_name", "replace_number"):
            # Mostly still valid syntax: exercises the checker, the data checks and compile.
            pattern = r"[A-Za-z]\w*" if kind == "replace_name" else r"\d+\.?\d*"
            tokens = [m.span() for m in re.finditer(pattern, text)]
            pool = (_NAME_POOL + [text[x:y] for x, y in tokens] if kind == "replace_name"
                    else _NUMBER_POOL)
            kind = "replace_token"
        if not tokens:
            continue
        a, b = tokens[draw(st.integers(0, len(tokens) - 1))]
        if kind == "delete_token":
            text = text[:a] + text[b:]
        elif kind == "duplicate_token":
            text = text[:b] + " " + text[a:b] + text[b:]
        elif kind == "replace_token":
            if pool is None:
                pool = _EXTRA_TOKENS + [text[x:y] for x, y in tokens]
            text = text[:a] + draw(st.sampled_from(pool)) + text[b:]
        else:
            c, d = tokens[draw(st.integers(0, len(tokens) - 1))]
            if (a, b) > (c, d):
                (a, b), (c, d) = (c, d), (a, b)
            if b <= c:
                text = text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]
    return label, text, data


@PROPERTY
@given(mutated_cases())
def test_mutated_models_raise_only_ppl_errors(case):
    label, text, data = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compiled = ppl.model(text).compile(data)
        except ppl.PPLError as error:
            _assert_located(error, text)
            return
    # What checks and compiles also traces: a scalar log-density (no compilation needed).
    out = jax.eval_shape(compiled.log_density,
                         jax.ShapeDtypeStruct((compiled.dimension,), compiled.dtype))
    assert out.shape == ()


def test_the_parser_loads_no_cache_file_from_the_shared_temporary_folder():
    """lark's cache=True unpickles a file at a predictable path in the temporary folder, where
    another local user could plant code: the tables are kept in ppl's own cache folder
    instead (or built in memory when there is none)."""
    from ppl.cache_paths import cache_folder
    from ppl.frontend.parse import lark_parser

    cache = lark_parser().options.cache
    assert cache is not True
    if cache:
        assert Path(cache).parent == cache_folder()
