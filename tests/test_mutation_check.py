"""The deliberate bugs of ``benchmarks/mutation_check.py`` still apply to the code: each one's
text occurs exactly once in its file (three had drifted away from the code unnoticed, so the
check could not show that the suite catches them)."""

import pytest

from benchmarks.mutation_check import MUTATIONS, ROOT


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_mutation_finds_its_text_once(mutation):
    text = (ROOT / mutation.path).read_text()
    assert text.count(mutation.old) == 1, f"{mutation.path} no longer holds {mutation.old!r}"
    for test_file in mutation.first:
        assert (ROOT / test_file).is_file()
