"""A handful of corpus models sampled with the default NUTS (``pytest -m slow``): every chain
mixes (R-hat under 1.01, bulk ESS over 400 for every parameter) without divergences. Their
densities are checked against Stan's in test_corpus.py; this checks that they also sample.
(Not the mixtures: their unordered components switch labels between chains, as in Stan.)"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest
from corpus_support import corpus_dir, declared_data, model_file

import ppl

FOLDER = corpus_dir()
SAMPLED = ["radon_mn-radon_variable_intercept_noncentered", "wells_data-wells_dist100_model",
           "dogs-dogs", "GLM_Poisson_Data-GLM_Poisson_model", "surgical_data-surgical_model"]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(FOLDER is None, reason="the Stan corpus is absent")]


@pytest.mark.parametrize("posterior", SAMPLED)
def test_corpus_model_samples_cleanly(posterior):
    model = ppl.load(model_file(posterior))
    given = declared_data(FOLDER, posterior, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.sample(given, chains=4, draws=1000, warmup=1000, seed=1)
    assert int(np.sum(fit["sample_stats"]["diverging"].values)) == 0
    names = [b.name for b in model.compile(given).blocks]
    summary = az.summary(fit, var_names=names, kind="diagnostics")
    assert float(summary["r_hat"].max()) < 1.01, summary
    assert float(summary["ess_bulk"].min()) > 400, summary
