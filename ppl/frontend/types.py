"""Types of expressions: element kind and shape, with sizes concrete (data known) or symbolic."""

from __future__ import annotations

from dataclasses import dataclass

# Constrained types: (rank of the value, NumPyro constraint name).
CONSTRAINED_TYPES = {
    "simplex": (1, "simplex"), "ordered": (1, "ordered_vector"),
    "positive_ordered": (1, "positive_ordered_vector"), "unit_vector": (1, "sphere"),
    "cholesky_factor_corr": (2, "corr_cholesky"), "cholesky_factor_cov": (2, "lower_cholesky"),
    "corr_matrix": (2, "corr_matrix"), "cov_matrix": (2, "positive_definite"),
}

# A size is an int once the data is known, else the source text of its expression ("J").
Dim = int | str


@dataclass(frozen=True)
class Type:
    """``elem`` is ``"int"``, ``"real"`` or ``"error"`` (an earlier error; checks are skipped).

    ``dim_names`` name each axis where a name is known (``J`` for ``real[J]``); they become the
    dims of the ArviZ results.
    """

    elem: str
    shape: tuple[Dim, ...] = ()
    dim_names: tuple[str | None, ...] = ()

    def __post_init__(self):
        if len(self.dim_names) != len(self.shape):
            object.__setattr__(self, "dim_names", (None,) * len(self.shape))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_error(self) -> bool:
        return self.elem == "error"

    def describe(self) -> str:
        if self.elem == "error":
            return "<error>"
        if not self.shape:
            return self.elem
        if self.rank == 1:
            return f"{'int' if self.elem == 'int' else 'vector'}[{self.shape[0]}]"
        if self.rank == 2 and self.elem == "real":
            return f"matrix[{self.shape[0]}, {self.shape[1]}]"
        return f"{self.elem}[{', '.join(str(d) for d in self.shape)}]"

    def with_elem(self, elem: str) -> Type:
        return Type(elem, self.shape, self.dim_names)


ERROR = Type("error")
INT = Type("int")
REAL = Type("real")


def dims_equal(a: Dim, b: Dim) -> bool | None:
    """True/False when decidable; None when a symbolic size might equal another one."""
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if a == b:
        return True
    return None


def same_shape(a: Type, b: Type) -> bool:
    """Whether two shapes can be combined element-wise (undecidable symbolic sizes pass)."""
    return a.rank == b.rank and all(dims_equal(x, y) is not False for x, y in zip(a.shape, b.shape))


def merge_names(a: Type, b: Type) -> tuple[str | None, ...]:
    return tuple(x or y for x, y in zip(a.dim_names, b.dim_names))
