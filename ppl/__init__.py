"""ppl: a probabilistic programming language for Bayesian modelling, compiled to JAX.

    import ppl
    m = ppl.load("model.ppl")            # or ppl.model(\"\"\"...\"\"\")
    fit = m.sample(data={"N": 3, "y": [1.0, 2.0, 3.0]})   # an ArviZ DataTree
"""

import jax as _jax

# Double precision by default: posteriors of badly scaled models need it. Pass
# precision="float32" to sample() for single-precision data and parameters.
_jax.config.update("jax_enable_x64", True)

from ppl.backends.base import available_backends  # noqa: E402
from ppl.codegen.model import CompiledModel  # noqa: E402
from ppl.errors import DataError, ModelError, PPLError, SamplingError  # noqa: E402
from ppl.model import Model, load, model  # noqa: E402

__all__ = [
    "CompiledModel", "DataError", "Model", "ModelError", "PPLError", "SamplingError",
    "available_backends", "load", "model",
]
__version__ = "0.1.0"
