"""Source files and spans: every AST node points back at the text it came from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """A model's text and the name it is reported under (a path or ``<string>``)."""

    text: str
    name: str = "<string>"

    def line(self, number: int) -> str:
        """The 1-based source line ``number`` without its newline ('' when out of range)."""
        # Only '\n' ends a line, as in the parser's positions (splitlines() would also split
        # at form feeds and other characters that the grammar treats as spaces).
        lines = self.text.split("\n")
        return lines[number - 1].removesuffix("\r") if 1 <= number <= len(lines) else ""


@dataclass(frozen=True)
class Span:
    """A region of a source file: 1-based line and column of its first and last character.

    Spans compare equal to every other span so that trees compare structurally
    (two parses of the same model with different layout are equal ASTs).
    """

    line: int
    column: int
    end_line: int
    end_column: int

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Span)

    def __hash__(self) -> int:
        return 0


NO_SPAN = Span(0, 0, 0, 0)
