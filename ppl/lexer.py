"""A Pygments lexer for the ppl language: ``pygmentize -l ppl model.ppl``, Sphinx, MkDocs, ...

Registered through the ``pygments.lexers`` entry point (``get_lexer_by_name("ppl")`` finds it
once ppl is installed) and for ``*.ppl`` files. Its word lists come from the sources of truth,
so that highlighting cannot drift from the language:

- keywords and type names from the grammar (``grammar/ppl.lark``): every word literal, those
  of the ``type`` rule being types (``int``, ``real``, ``vector``, ``matrix``, ...);
- distribution names from :data:`ppl.library.DISTRIBUTIONS`, and function names from
  :data:`ppl.library.FUNCTIONS` plus each distribution's log-density (``normal_lpdf``,
  ``poisson_lpmf``); both are highlighted where they are called, before a ``(``, so that a
  variable named ``beta`` or ``sd`` stays a name.

The lexer never produces ``Error`` tokens: characters outside the language (a ``;`` or ``$``
in a model with a mistake) are plain text, so snippets with errors still highlight.
"""

from __future__ import annotations

import re

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    Text,
    Whitespace,
)

from ppl.library import DISTRIBUTIONS, FUNCTIONS
from ppl.library.cdfs import cdf_function_names
from ppl.library.ode import ODE_SOLVERS

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD_ALTERNATION = re.compile(r"\(\?:([A-Za-z0-9_|]+)\)|([A-Za-z0-9_|]+)")


def _terminal_words(pattern) -> list[str]:
    """The words a grammar terminal matches: a literal word, or an alternation of words."""
    value = pattern.value
    if type(pattern).__name__ == "PatternStr":
        return [value] if _WORD.fullmatch(value) else []
    match = _WORD_ALTERNATION.fullmatch(value)
    if match is None:
        return []
    return [w for w in (match.group(1) or match.group(2)).split("|") if _WORD.fullmatch(w)]


def grammar_words() -> tuple[list[str], list[str]]:
    """``(keywords, types)`` of the language, read from its grammar."""
    from ppl.frontend.parse import lark_parser

    parser = lark_parser()
    terminals = {t.name: t for t in parser.terminals}
    type_terminals = {symbol.name for rule in parser.rules if rule.origin.name == "type"
                      for symbol in rule.expansion if symbol.name in terminals}
    types = sorted({w for name in type_terminals for w in _terminal_words(terminals[name].pattern)})
    keywords = sorted({w for t in parser.terminals if t.name not in type_terminals
                       for w in _terminal_words(t.pattern)
                       if type(t.pattern).__name__ == "PatternStr"} - set(types) - _CONTEXTUAL)
    return keywords, types


# Words of the grammar that are keywords only in one place and names elsewhere: `T` of `T[L, U]`
# after a distribution (`data T: int` is a common size), so not highlighted as a keyword.
_CONTEXTUAL = {"T"}


KEYWORDS, TYPES = grammar_words()
DISTRIBUTION_NAMES = sorted(DISTRIBUTIONS)
# Functions, and the log-density of each distribution (normal_lpdf, poisson_lpmf, ...).
FUNCTION_NAMES = sorted({*FUNCTIONS, *ODE_SOLVERS,
                         *(f"{name}_{'lpmf' if spec.discrete else 'lpdf'}"
                           for name, spec in DISTRIBUTIONS.items()),
                         *cdf_function_names()})
_DECLARATIONS = [k for k in ("data", "param") if k in KEYWORDS]
_CALLED = r"(?=[ \t]*\()"  # a name directly followed by '(' is called


class PplLexer(RegexLexer):
    """Pygments lexer for ppl models (``.ppl`` files)."""

    name = "ppl"
    aliases = ["ppl"]
    filenames = ["*.ppl"]
    mimetypes = ["text/x-ppl"]

    tokens = {
        "root": [
            (r"[ \t\f]*\r?\n", Whitespace),
            (r"[ \t\f]+", Whitespace),
            (r"#.*?$", Comment.Single),
            (r"\\(?=[ \t]*\r?\n)", Text),  # a line continuation
            (rf"\b({'|'.join(_DECLARATIONS)})\b([ \t]+)([A-Za-z][A-Za-z0-9_]*)",
             bygroups(Keyword.Declaration, Whitespace, Name.Variable)),
            (words(_DECLARATIONS, prefix=r"\b", suffix=r"\b"), Keyword.Declaration),
            (words(TYPES, prefix=r"\b", suffix=r"\b"), Keyword.Type),
            (words(KEYWORDS, prefix=r"\b", suffix=r"\b"), Keyword),
            (words(DISTRIBUTION_NAMES, prefix=r"\b", suffix=r"\b" + _CALLED), Name.Builtin),
            (words(FUNCTION_NAMES, prefix=r"\b", suffix=r"\b" + _CALLED), Name.Function),
            (r"[A-Za-z][A-Za-z0-9_]*", Name),
            (r"(\d+\.\d*|\.\d+)([eE][-+]?\d+)?|\d+[eE][-+]?\d+", Number.Float),
            (r"\d+", Number.Integer),
            (r"\+=|\.\*|\./|==|!=|<=|>=|&&|\|\||[-+*/%^<>=!~']", Operator),
            (r"[()\[\],:]", Punctuation),
            (r"\w+", Name),  # names outside the language (non-ASCII letters, a leading _)
            (r".", Text),  # characters outside the language: plain text, never an error
        ],
    }
