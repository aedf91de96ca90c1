"""ppl: a probabilistic programming language for Bayesian modelling, compiled to JAX.

    import ppl
    m = ppl.load("model.ppl")            # or ppl.model(\"\"\"...\"\"\")
    fit = m.sample(data={"N": 3, "y": [1.0, 2.0, 3.0]})   # an ArviZ DataTree
    ppl.summary.save(fit, "fit.nc"); fit = ppl.load_fit("fit.nc")   # or .json
"""

import jax as _jax

# Double precision by default: posteriors of badly scaled models need it. Pass
# precision="float32" to sample() for single-precision data and parameters.
_jax.config.update("jax_enable_x64", True)


def _enable_compilation_cache() -> None:
    """Keep compiled samplers on disk so a second run of a model starts in a couple of seconds.
    PPL_CACHE_DIR chooses the folder; an empty value turns the cache off."""
    import os

    folder = os.environ.get("PPL_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache",
                                                            "ppl", "jax"))
    if folder and _jax.config.jax_compilation_cache_dir is None:
        _jax.config.update("jax_compilation_cache_dir", folder)
        _jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


_enable_compilation_cache()

from ppl import summary  # noqa: E402,F401  (ppl.summary.sampler_warnings(fit) after `import ppl`)
from ppl.backends.registry import available_backends  # noqa: E402
from ppl.codegen.model import CompiledModel  # noqa: E402
from ppl.errors import (  # noqa: E402
    DataError,
    ModelError,
    ModelWarning,
    PPLError,
    SamplingError,
    SamplingWarning,
)
from ppl.jupyter import load_ipython_extension, register_in_running_ipython  # noqa: E402
from ppl.model import Model, load, model  # noqa: E402
from ppl.output import load_fit  # noqa: E402

register_in_running_ipython()

__all__ = [
    "CompiledModel", "DataError", "Model", "ModelError", "ModelWarning", "PPLError",
    "SamplingError", "SamplingWarning",
    "available_backends", "load", "load_fit", "load_ipython_extension", "model",
]
__version__ = "0.1.0"
