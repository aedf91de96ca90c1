"""Writing the files a user asked for (fits, model graphs) so that a failure never leaves a
partial file: each is written beside its target under a temporary name, then renamed over it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomically(path: Path, write: Callable[[Path], Any]) -> None:
    """``write(temporary)`` in ``path``'s folder, then rename it over ``path``. On any failure
    (re-raised, an ``OSError`` included) the temporary file is removed and ``path`` is left as
    it was."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                     delete=False) as handle:
        temporary = Path(handle.name)
    try:
        write(temporary)
        temporary.chmod(default_mode())  # a temporary file is the owner's only
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def default_mode() -> int:
    """The mode a newly created file gets (0o666 less the umask), as open() would give it."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
