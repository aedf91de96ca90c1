"""The non-measuring parts of benchmarks/bench_gradient_scaling.py: counting the matrix
products in a gradient's jaxpr (nested programs included), the one-product-per-direction check,
and the linear-growth figure. No timings."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is a folder of the repository, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_gradient_scaling import (  # noqa: E402
    dot_generals,
    gradients,
    is_one_matvec_per_direction,
    linear_growth,
    matvec_blocks,
)


def test_dot_generals_are_found_inside_nested_programs():
    x = jnp.ones((6, 3))

    @jax.jit
    def inner(b):
        return x @ b

    def f(b):
        return jnp.sum(jax.lax.cond(True, inner, inner, b) ** 2) + jnp.sum(x.T @ x)

    shapes = dot_generals(jax.make_jaxpr(jax.grad(f))(jnp.ones(3)))
    assert ((3, 6), (6, 3)) in shapes  # X.T @ X at the top level
    assert shapes.count(((6, 3), (3,))) >= 1  # forward inside jit and cond
    assert len(shapes) >= 3  # and the backward product


def test_one_matvec_per_direction():
    n, d = 7, 3
    assert is_one_matvec_per_direction([((n, d), (d,)), ((n,), (n, d))], n, d)
    assert not is_one_matvec_per_direction([((n, d), (d,))], n, d)
    assert not is_one_matvec_per_direction([((n, d), (d,)), ((n,), (n, d)),
                                            ((n, d), (d,))], n, d)
    assert not is_one_matvec_per_direction([((n, d), (d, 2)), ((n,), (n, d))], n, d)


def test_matvec_blocks_pairs_forward_and_backward_products_of_row_blocks():
    n, d = 20, 3
    assert matvec_blocks([((n, d), (d,)), ((n,), (n, d))], n, d) == [n]
    blocked = [((8, d), (d,)), ((8,), (8, d)), ((4, d), (d,)), ((4,), (4, d))]
    assert matvec_blocks(blocked, n, d) == [8, 4]
    assert matvec_blocks(blocked[:3], n, d) is None  # a block read one way only
    assert matvec_blocks([((n, d), (d, 2)), ((n,), (n, d))], n, d) is None
    assert matvec_blocks([((2 * n, d), (d,)), ((2 * n,), (2 * n, d))], n, d) is None


def test_linear_growth_is_time_per_observation_relative_to_the_first():
    rows = [{"N": 10, "t": 1.0}, {"N": 100, "t": 10.0}, {"N": 1000, "t": 200.0}]
    assert linear_growth(rows, "t") == pytest.approx([1.0, 1.0, 2.0])


@pytest.mark.filterwarnings("ignore:.*data entries not used")
def test_both_logistic_gradients_are_one_matvec_each_way_and_agree():
    from ppl.jax_settings import ppl_settings

    with ppl_settings():
        functions, _ = gradients(300, 4)
        (g_ppl, a_ppl), (g_hand, a_hand) = functions["ppl"], functions["numpyro"]
        g_plain, a_plain = functions["ppl_plain"]
        for grad, args in functions.values():
            assert is_one_matvec_per_direction(dot_generals(jax.make_jaxpr(grad)(*args)), 300, 4)
        # the gradient of the log density and of the potential (its negative): same model
        assert jnp.allclose(g_ppl(*a_ppl), -g_hand(*a_hand), rtol=1e-10, atol=1e-10)
        # the one-pass rule and plain autodiff: the same gradient
        assert jnp.allclose(g_ppl(*a_ppl), g_plain(*a_plain), rtol=1e-10, atol=1e-10)
