"""ppl: a probabilistic programming language for Bayesian modelling, compiled to JAX.

    import ppl
    m = ppl.load("model.ppl")            # or ppl.model(\"\"\"...\"\"\")
    fit = m.sample(data={"N": 3, "y": [1.0, 2.0, 3.0]})   # an ArviZ DataTree
    ppl.summary.save(fit, "fit.nc"); fit = ppl.load_fit("fit.nc")   # or .json
"""

# Chains run in parallel on CPU devices that must be asked for before JAX starts, so this comes
# first (ppl/host_devices.py says when ppl asks, and how a user keeps JAX's single device).
from ppl.host_devices import request_host_devices

request_host_devices()

# Apart from the device count above, importing ppl changes no JAX setting: ppl's calls run in
# 64-bit with its compilation cache and put JAX's settings back on return
# (ppl/jax_settings.py). The results, summary and output modules (ArviZ, xarray, matplotlib
# through arviz_plots) are imported when first used, so that `import ppl` and `ppl check` do
# not pay for them.
from ppl.backends.registry import available_backends  # noqa: E402  (after the device count)
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

register_in_running_ipython()


def __getattr__(name: str):
    """``ppl.summary``, ``ppl.load_fit`` and ``ppl.fit_many``, imported at their first use
    (ArviZ, xarray, Dask)."""
    if name == "summary":
        import ppl.summary as summary

        return summary
    if name == "load_fit":
        from ppl.output import load_fit

        return load_fit
    if name == "fit_many":  # Dask is imported with it
        from ppl.validation.many import fit_many

        return fit_many
    raise AttributeError(f"module 'ppl' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"summary", "load_fit", "fit_many"})


__all__ = [
    "CompiledModel", "DataError", "Model", "ModelError", "ModelWarning", "PPLError",
    "SamplingError", "SamplingWarning",
    "available_backends", "fit_many", "load", "load_fit", "load_ipython_extension", "model",
]
__version__ = "0.1.0"
