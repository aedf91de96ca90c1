"""Errors of a fit's posterior moments in Monte Carlo standard errors (ArviZ's), for the
statistical tests of samplers on targets with known moments."""

from __future__ import annotations

import arviz_stats as az
import numpy as np


def moment_errors(fit, name: str, means, sds) -> tuple[float, float]:
    """The largest |mean - truth| over the MCSE of the mean, and the largest |sd - truth|
    over the MCSE of the sd, over the elements of the vector latent ``name``."""
    draws = fit["posterior"][name].values
    draws = draws.reshape(-1, draws.shape[-1])
    mcse_mean = np.asarray(az.mcse(fit, var_names=[name], method="mean")[name])
    mcse_sd = np.asarray(az.mcse(fit, var_names=[name], method="sd")[name])
    mean_error = np.abs(draws.mean(axis=0) - means) / mcse_mean
    sd_error = np.abs(draws.std(axis=0) - sds) / mcse_sd
    return float(mean_error.max()), float(sd_error.max())
