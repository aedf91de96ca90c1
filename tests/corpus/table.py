"""Rewrite docs/corpus.md from tests/corpus/ and the corpus's stored densities:

    python tests/corpus/table.py
"""

from __future__ import annotations

import sys

from corpus_support import MODELS, TABLE, check, corpus_dir, table


def main() -> int:
    folder = corpus_dir()
    if folder is None:
        print("the Stan corpus is absent (../shared/stan-corpus or $PPL_STAN_CORPUS)",
              file=sys.stderr)
        return 1
    checks = {p.stem: check(folder, p.stem) for p in sorted(MODELS.glob("*.ppl"))}
    TABLE.write_text(table(folder, checks))
    print(f"wrote {TABLE}: {sum(c.passed for c in checks.values())} of {len(checks)} pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
