"""Deeply nested input: beyond the nesting limit a located ModelError, never a RecursionError;
at the limit the whole pipeline (check, IR, compile, log density, sampling) works, even when
called from a stack that is already deep (a notebook, a test runner, the user's own code)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ppl
from ppl.frontend.parse import HEAVY_LEVEL, MAX_NESTING

HEAD = "data x: real\nmu ~ normal(0, 1)\n"

# Each shape nests one level per unit n; the expression is the right-hand side of `y = ...`.
SHAPES = {
    "sum": lambda n: " + ".join(["mu"] * (n + 1)),
    "difference": lambda n: " - ".join(["mu"] * (n + 1)),
    "product": lambda n: " * ".join(["mu"] * (n + 1)),
    "power": lambda n: "^".join(["mu"] * (n + 1)),
    "calls": lambda n: "sin(" * n + "mu" + ")" * n,
    "negation": lambda n: "-" * n + "mu",
    "array": lambda n: "[" * n + "mu" + "]" * n,
    # a conditional counts HEAVY_LEVEL levels; the innermost test `mu > 0` one more
    "conditional": lambda n: "if mu > 0 then mu else " * ((n - 1) // HEAVY_LEVEL) + "mu",
    "comprehension": lambda n: comprehensions(-(-n // HEAVY_LEVEL)),
}


def comprehensions(k: int) -> str:
    text = "mu"
    for level in range(k):
        text = f"[{text} for i{level} in 1:1]"
    return text


def model_text(shape: str, n: int) -> str:
    observed = "mu" if shape in ("array", "comprehension") else "y"
    return HEAD + f"y = {SHAPES[shape](n)}\nx ~ normal({observed}, 1)\n"


def deeper_stack(frames: int, function):
    """``function()`` called from ``frames`` extra Python frames."""
    if frames == 0:
        return function()
    return deeper_stack(frames - 1, function)


@pytest.mark.parametrize("text, column", [
    pytest.param("y = " + " + ".join(["x"] * 600), 5, id="sum-600"),
    pytest.param("y = " + "exp(" * 200 + "x" + ")" * 200, 5 + 4 * MAX_NESTING, id="calls-200"),
    pytest.param("y = " + "[" * 300 + "x" + "]" * 300, 5 + MAX_NESTING, id="brackets-300"),
    pytest.param("y = " + "-" * 600 + "x", 5 + MAX_NESTING, id="negation-600"),
    pytest.param("y = " + "^".join(["x"] * 400), 5 + 2 * MAX_NESTING, id="power-400"),
    pytest.param("y = sum(" + "!" * 500 + "x)", 9 + MAX_NESTING - 1, id="not-in-call-500"),
])
def test_too_deep_is_a_located_error(text, column):
    with pytest.raises(ppl.ModelError) as info:
        ppl.model("data x: real\n" + text + "\n", "deep.ppl")
    message = str(info.value)
    assert message.startswith(f"deep.ppl:2:{column}: error: this expression is nested too "
                              f"deeply (more than {MAX_NESTING} levels")
    assert "hint: split the expression into named definitions" in message


def test_too_deep_in_a_distribution_argument_and_a_bound():
    deep = "-" * (MAX_NESTING + 5) + "1"
    for text in (f"data x: real\nx ~ normal({deep}, 1)\n",
                 f"data x: real < {deep}\n",
                 f"data x: real\ny = x for i in 1:{deep}\n"):
        with pytest.raises(ppl.ModelError, match=r"^deep\.ppl:\d+:\d+: error: this expression "
                                                 r"is nested too deeply"):
            ppl.model(text, "deep.ppl")


@pytest.mark.parametrize("shape", SHAPES)
def test_one_past_the_limit_is_rejected(shape):
    with pytest.raises(ppl.ModelError, match="nested too deeply"):
        ppl.model(model_text(shape, MAX_NESTING + 1), "deep.ppl")


@pytest.mark.parametrize("shape", SHAPES)
def test_at_the_limit_everything_works_from_a_deep_stack(shape):
    """200 extra frames stand for a caller's own stack; the limit must leave room for them."""
    text = model_text(shape, MAX_NESTING)

    def pipeline():
        model = ppl.model(text, "deep.ppl")
        data = {"x": 0.5}
        assert "y" in model.ir(data)
        compiled = model.compile(data)
        u = jnp.zeros((compiled.dimension,))
        value, grad = jax.value_and_grad(compiled.log_density)(u)
        return float(value), np.asarray(grad)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value, grad = deeper_stack(200, pipeline)
    assert np.isfinite(value) and np.all(np.isfinite(grad))


def test_at_the_limit_sampling_works():
    text = model_text("sum", MAX_NESTING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ppl.model(text, "deep.ppl").sample({"x": 0.5}, chains=1, draws=20, warmup=20)
    mu = fit.posterior["mu"].values
    assert mu.shape == (1, 20) and np.all(np.isfinite(mu))
    # y = 101 mu, observed with unit noise at 0.5: the posterior of mu is tight around 0.005
    assert abs(float(mu.mean()) - 0.5 * 101 / (101**2 + 1)) < 0.05


def test_deep_parentheses_and_long_flat_expressions_are_not_nesting():
    """Brackets around one expression add no level, and a long argument list is wide, not
    deep: these work end to end."""
    wide = "[" + ", ".join(["mu"] * 600) + "]"
    text = (HEAD + "y = " + "(" * 300 + "mu" + ")" * 300 + "\n"
            + f"z = sum({wide})\nx ~ normal(y + z, 1)\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = ppl.model(text, "deep.ppl").compile({"x": 0.5})
    value = float(compiled.log_density(jnp.full((1,), 0.001)))
    assert np.isfinite(value)


def test_the_limit_is_documented():
    # Not conftest's ROOT: with tests/conformance/conftest.py also loaded, "conftest" may be
    # that one.
    text = (Path(__file__).resolve().parent.parent / "docs" / "language.md").read_text()
    assert re.search(rf"nested more than {MAX_NESTING} levels", text)
    # "a conditional `if ... then ... else` or an array comprehension adds 5, parentheses add
    # none": the weight the shapes above are built with
    assert re.search(rf"array comprehension\s+adds {HEAVY_LEVEL}, parentheses add none", text)


def function_chain(n: int, reverse: bool = False) -> str:
    """f{n-1} calls f{n-2} ... calls f0: evaluating f{n-1}(mu) nests through every body."""
    lines = ["function f0(x: real): real = x + 1"] + [
        f"function f{i}(x: real): real = f{i - 1}(x) + 1" for i in range(1, n)]
    if reverse:
        lines.reverse()
    return "\n".join(lines) + f"\n{HEAD}x ~ normal(f{n - 1}(mu), 1)\n"


@pytest.mark.parametrize("reverse", [False, True], ids=["defined-in-order", "used-before"])
def test_a_long_chain_of_function_calls_is_rejected(reverse):
    with pytest.raises(ppl.ModelError, match=r"^deep\.ppl:\d+:\d+: error: this expression is "
                                             r"nested too deeply"):
        ppl.model(function_chain(300, reverse), "deep.ppl")


def test_a_short_chain_of_function_calls_works():
    # each body nests two levels (the + and the call) and the use two more: 2 * 20 + 1 + 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = ppl.model(function_chain(20, reverse=True), "deep.ppl").compile({"x": 0.5})
    # f19(mu) = mu + 20, at mu = 0: log N(0 | 0, 1) + log N(0.5 | 20, 1)
    expected = -np.log(2 * np.pi) - 0.5 * 19.5**2
    assert float(compiled.log_density(jnp.zeros((1,)))) == pytest.approx(expected)


def test_nested_conditionals_compile_in_linear_time():
    """Each branch is traced once: an else-if chain of 19 (2^19 traces before) compiles."""
    text = HEAD + "y = " + "if mu > 0 then 0 else " * 19 + "mu\nx ~ normal(y, 1)\n"
    compiled = ppl.model(text, "deep.ppl").compile({"x": 0.5})
    value = jax.jit(compiled.log_density)(jnp.full((1,), -0.25))
    assert float(value) == pytest.approx(-np.log(2 * np.pi) - 0.5 * 0.25**2 - 0.5 * 0.75**2)


@pytest.mark.parametrize("literal", ["99999999999999999999999", "9" * 5000])
def test_an_integer_literal_too_large_is_a_located_error(literal):
    with pytest.raises(ppl.ModelError, match=r"^deep\.ppl:2:5: error: the integer 9+ is too "
                                             r"large"):
        ppl.model(f"data x: real\ny = {literal}\nx ~ normal(y, 1)\n", "deep.ppl")


def test_the_largest_integer_literal_and_leading_zeros_are_fine():
    model = ppl.model(f"y = 9223372036854775807\nz = {'0' * 30}7\n", "deep.ppl")
    assert model.program.statements[1].expr.value == 7
