"""Every corpus model written in the language is density-equal to its Stan program (see
corpus_support.py), and docs/corpus.md is the table these checks give."""

from __future__ import annotations

import pytest
from corpus_support import MODELS, TABLE, check, corpus_dir, posteriors, table

FOLDER = corpus_dir()
pytestmark = pytest.mark.skipif(FOLDER is None, reason="the Stan corpus is absent "
                                "(../shared/stan-corpus or $PPL_STAN_CORPUS)")
WRITTEN = sorted(p.stem for p in MODELS.glob("*.ppl"))


@pytest.fixture(scope="module")
def checks():
    return {}


@pytest.mark.parametrize("posterior", WRITTEN)
def test_density_equal_to_stan(posterior, checks):
    result = check(FOLDER, posterior)
    checks[posterior] = result
    assert result.passed, (f"{posterior}: differences off by up to {result.max_error:.3g}; "
                           f"log densities {result.log_densities}")


def test_every_model_is_a_corpus_posterior():
    assert set(WRITTEN) <= set(posteriors(FOLDER))


def test_the_table_in_the_docs_is_up_to_date(checks):
    for posterior in WRITTEN:
        if posterior not in checks:
            checks[posterior] = check(FOLDER, posterior)
    expected = table(FOLDER, checks)
    assert TABLE.exists() and TABLE.read_text() == expected, (
        "docs/corpus.md is out of date: run python tests/corpus/table.py")
