"""Integer data used as an index must lie in the indexed quantity's range: 0-based group codes
or a code above the number of groups are a located data error, never a silently wrong answer
(JAX wraps negative indices and clips or fills the others)."""

from __future__ import annotations

import numpy as np
import pytest

import ppl

GROUPS = """
data N: int >= 1
data g: int[N]
data y: real[N]
alpha: vector[3] ~ normal(0, 1)
y ~ normal(alpha[g], 1)
"""

ELEMENTS = """
data N: int >= 1
data g: int[N]
data y: real[N]
alpha: vector[3] ~ normal(0, 1)
y[n] ~ normal(alpha[g[n]], 1) for n in 1:N
"""


def _error(source: str, data: dict) -> ppl.DataError:
    with pytest.raises(ppl.DataError) as info:
        ppl.model(source).compile(data)
    return info.value


@pytest.mark.parametrize("source", [GROUPS, ELEMENTS])
@pytest.mark.parametrize("codes, bad, position", [
    ([0, 1, 2, 1], 0, 1),  # 0-based codes
    ([1, 2, 4, 1], 4, 3),  # one code too many
    ([1, -1, 2, 3], -1, 2),
])
def test_an_index_out_of_range_is_a_located_data_error(source, codes, bad, position):
    error = _error(source, {"N": 4, "g": codes, "y": [0.1, 0.2, 0.3, 0.4]})
    (diagnostic,) = error.diagnostics
    assert diagnostic.message == (f"data 'g' indexes 'alpha', whose indices run from 1 to 3, "
                                  f"but g[{position}] is {bad}")
    lines = source.splitlines()
    line = 1 + lines.index(next(text for text in lines if "alpha[g" in text))
    assert diagnostic.span.line == line  # the index in the statement
    assert "'g'" in diagnostic.hint and "from 1" in diagnostic.hint
    assert str(error).startswith(f"<string>:{line}:")


def test_codes_in_range_compile_and_index_the_right_groups():
    compiled = ppl.model(GROUPS).compile({"N": 4, "g": [1, 3, 2, 3], "y": np.zeros(4)})
    import jax.numpy as jnp
    u = jnp.array([0.5, -1.0, 2.0])  # alpha
    pointwise = np.asarray(compiled.pointwise_log_likelihood(u)["y"])
    expected = -0.5 * np.array([0.5, 2.0, -1.0, 2.0]) ** 2 - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(pointwise, expected)


def test_a_scalar_index_into_integer_data_is_checked():
    source = "data w: int[4]\ndata k: int\nx ~ normal(w[k], 1)\n"
    with pytest.raises(ppl.PPLError) as info:  # found by the checker, which knows k's value
        ppl.model(source).compile({"w": [1, 2, 3, 4], "k": 7})
    assert str(info.value).startswith("<string>:3:14: error: index 7 is outside 1:4")
