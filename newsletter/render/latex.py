"""LaTeX math as plain Unicode text, where that is faithful: `$x_i^2$` -> `xᵢ²`.

Email clients run no script and load no web fonts, so a formula is shown as text. Greek,
operators, relations, sub- and superscripts, simple fractions and roots become Unicode (a
script with no Unicode form is written `e^(xᵢ − ϕ)`). What text cannot show faithfully (a
matrix, a sum with limits, a fraction of fractions, an unknown command) is reported with why,
so the caller can show the LaTeX source instead and `check` can name the formula.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from newsletter.render.latex_symbols import (
    ACCENTS,
    ALPHABETS,
    CHARACTERS,
    ROOTS,
    SIZING,
    SUBSCRIPTS,
    SUPERSCRIPTS,
    SYMBOLS,
    TEXT_MACROS,
    library_symbol,
)

_TOKEN = re.compile(r"\\([A-Za-z]+)\*?|\\(.)|(\s+)|(.)", re.S)
_SCRIPT_TABLES = {"^": {**SUPERSCRIPTS, "′": "′"}, "_": SUBSCRIPTS}
_SPACED = ("op", "rel")


@dataclass(frozen=True)
class Formula:
    """One formula: its text if that is faithful, else the source and why it is kept."""

    source: str
    text: str
    problem: str | None = None

    @property
    def faithful(self) -> bool:
        return self.problem is None


class _Unfaithful(Exception):
    """The formula has something plain text cannot show; the message says what."""


@dataclass(frozen=True)
class _Piece:
    text: str
    kind: str = "atom"
    nested: bool = False  # a fraction or a big operator: another fraction cannot hold it


@dataclass(frozen=True)
class _Token:
    kind: str  # "macro", "char" or "space"
    value: str
    raw: str


def _tokens(source: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(source):
        word, escaped, space, char = match.groups()
        if space:
            tokens.append(_Token("space", " ", match[0]))
        elif char is not None:
            tokens.append(_Token("char", char, match[0]))
        else:
            tokens.append(_Token("macro", word or escaped, match[0]))
    return tokens


def join(pieces: list[_Piece]) -> str:
    """Pieces as text, spaced like typeset math: `a + b = c`, `−x`, `n log n`, `f(x, y)`."""
    out, previous = "", None
    for piece in pieces:
        if piece.kind == "space":
            out += piece.text
            continue
        unary = piece.kind == "op" and previous in (None, "op", "rel", "open", "punct")
        if piece.kind in _SPACED and not unary:
            out = f"{out.rstrip()} {piece.text} "
        elif piece.kind == "punct":
            out = f"{out.rstrip()}{piece.text} "
        else:
            out += " " * _space_between(previous, piece.kind) + piece.text
        previous = piece.kind
    return " ".join(out.split())


def _space_between(previous: str | None, kind: str) -> bool:
    """A named function or big operator is set off from the terms beside it: 'n log n'."""
    named = ("func", "big")
    return (previous in named and kind in ("atom", *named)) or \
        (kind in named and previous in ("atom", "close"))


def _simple(pieces: list[_Piece]) -> bool:
    """One term, safe to write next to '/' or '√' without parentheses."""
    return len(pieces) == 1 and pieces[0].kind == "atom" and " " not in pieces[0].text


def _wrapped(pieces: list[_Piece]) -> str:
    return join(pieces) if _simple(pieces) else f"({join(pieces)})"


class _Parser:
    """A recursive reading of one formula's tokens into spaced text pieces."""

    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.position = 0
        self._macros: dict[str, Callable[[str], list[_Piece]]] = {
            "frac": self._fraction, "dfrac": self._fraction, "tfrac": self._fraction,
            "sqrt": self._root, "begin": self._environment, "not": self._negation,
        }

    def _peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _next(self) -> _Token:
        token = self._peek()
        if token is None:
            raise _Unfaithful("a command is missing its argument")
        self.position += 1
        return token

    def _skip_spaces(self) -> None:
        while (token := self._peek()) is not None and token.kind == "space":
            self.position += 1

    def expression(self, closing: bool = False) -> list[_Piece]:
        """Pieces up to the end, or (closing) up to the '}' of the group being read."""
        pieces: list[_Piece] = []
        while (token := self._peek()) is not None:
            if token.kind == "char" and token.value == "}":
                if not closing:
                    raise _Unfaithful("a '}' without its '{'")
                self.position += 1
                return pieces
            pieces += self._item()
        if closing:
            raise _Unfaithful("a '{' without its '}'")
        return pieces

    def _item(self) -> list[_Piece]:
        """One base and the sub- and superscripts attached to it."""
        pieces = self._base()
        while (token := self._peek()) is not None and token.value in ("^", "_") \
                and token.kind == "char":
            self.position += 1
            base = pieces.pop() if pieces else _Piece("")
            pieces.append(_script(base, self.argument(), token.value))
        return pieces

    def argument(self) -> list[_Piece]:
        """A command's or a script's argument: a {group} or the next single token."""
        self._skip_spaces()
        token = self._peek()
        if token is not None and token.kind == "char" and token.value == "{":
            self.position += 1
            return self.expression(closing=True)
        return self._base()

    def _base(self) -> list[_Piece]:
        token = self._peek()
        if token is not None and token.kind == "char" and token.value in ("^", "_"):
            return [_Piece("")]
        token = self._next()
        if token.kind == "space":
            return []
        if token.kind == "macro":
            return self._macro(token.value)
        if token.value == "{":
            group = self.expression(closing=True)
            return [_Piece(join(group), nested=any(p.nested for p in group))] if group else []
        if token.value == "&":
            raise _Unfaithful("an alignment '&' (a matrix or aligned equations)")
        text, kind = CHARACTERS.get(token.value, (token.value, "atom"))
        return [_Piece(text, kind)]

    def _macro(self, name: str) -> list[_Piece]:
        if name in self._macros:
            return self._macros[name](name)
        if name in SYMBOLS:
            text, kind = SYMBOLS[name]
            return [_Piece(text, kind, nested=kind == "big")]
        if name in SIZING:
            self._skip_delimiter_dot()
            return []
        if name in TEXT_MACROS:
            return [self._font(name)]
        if name in ALPHABETS:
            return [_Piece(_alphabet(join(self.argument()), ALPHABETS[name]))]
        if name in ACCENTS:
            return [_accent(join(self.argument()), name)]
        if name == "\\":
            raise _Unfaithful("a line break '\\\\'")
        symbol = library_symbol(name) if name.isalpha() else None
        if symbol is None:
            raise _Unfaithful(f"the command '\\{name}' has no plain-text form")
        return [_Piece(symbol)]

    def _skip_delimiter_dot(self) -> None:
        token = self._peek()
        if token is not None and token.kind == "char" and token.value == ".":
            self.position += 1  # \left. and \right. draw nothing

    def _font(self, name: str) -> _Piece:
        if name.startswith("text") or name == "mbox":
            return _Piece(self._raw_group(), "atom")
        return _Piece(join(self.argument()), "func" if name == "operatorname" else "atom")

    def _raw_group(self) -> str:
        """The text of a {group} as written (\\text{ if } keeps its spaces)."""
        self._skip_spaces()
        if self._next().value != "{":
            raise _Unfaithful("\\text without a {group}")
        depth, raw = 0, ""
        while (token := self._next()).value != "}" or depth:
            depth += {"{": 1, "}": -1}.get(token.value, 0) if token.kind == "char" else 0
            raw += token.raw
        if "\\" in raw or "$" in raw:
            raise _Unfaithful("math inside \\text")
        return " ".join(raw.split(" ")) if raw.strip() else " "

    def _fraction(self, _name: str) -> list[_Piece]:
        numerator, denominator = self.argument(), self.argument()
        if any(piece.nested for piece in numerator + denominator):
            raise _Unfaithful("a fraction holding another fraction or a sum")
        return [_Piece(f"{_wrapped(numerator)}/{_wrapped(denominator)}", nested=True)]

    def _root(self, _name: str) -> list[_Piece]:
        degree = ""
        token = self._peek()
        if token is not None and token.kind == "char" and token.value == "[":
            self.position += 1
            while (token := self._next()).value != "]":
                degree += token.raw
        if degree.strip() not in ROOTS:
            raise _Unfaithful(f"a root of degree {degree.strip()}")
        radicand = self.argument()
        return [_Piece(ROOTS[degree.strip()] + _wrapped(radicand),
                       nested=any(p.nested for p in radicand))]

    def _environment(self, _name: str) -> list[_Piece]:
        raise _Unfaithful(f"the environment '{self._raw_group().strip()}' (a matrix or "
                          "aligned equations)")

    def _negation(self, _name: str) -> list[_Piece]:
        negated = self.argument()
        if len(negated) != 1:
            raise _Unfaithful("\\not before more than one symbol")
        return [_Piece(negated[0].text + "\u0338", negated[0].kind)]


def _script(base: _Piece, script: list[_Piece], mark: str) -> _Piece:
    """x_i -> xᵢ; e^{x_i - ϕ} -> e^(xᵢ − ϕ), the linear form where Unicode has no script."""
    if base.kind == "big":
        raise _Unfaithful(f"limits on {base.text}: text cannot set them above and below")
    text = join(script)
    compact = text.replace(" ", "")
    table = _SCRIPT_TABLES[mark]
    if compact and all(char in table for char in compact):
        shown = base.text + "".join(table[char] for char in compact)
    elif len(compact) == 1:
        shown = f"{base.text}{mark}{compact}"
    else:
        shown = f"{base.text}{mark}({text})"
    kind = base.kind if base.kind == "func" else "atom"
    return _Piece(shown, kind, nested=base.nested or any(p.nested for p in script))


def _alphabet(text: str, names: tuple[str, str]) -> str:
    """ℝ, 𝒪, 𝔤: letters of the double-struck, script or fraktur alphabets."""
    out = ""
    for char in text:
        if not char.isascii() or not char.isalpha():
            raise _Unfaithful(f"'{char}' in a special alphabet")
        case = "CAPITAL" if char.isupper() else "SMALL"
        try:
            out += unicodedata.lookup(f"{names[0]} {case} {char.upper()}")
        except KeyError:
            out += unicodedata.lookup(f"{names[1]} {case} {char.upper()}")
    return out


def _accent(text: str, name: str) -> _Piece:
    if len(text) != 1:
        raise _Unfaithful(f"\\{name} over more than one letter")
    return _Piece(text + ACCENTS[name])


@lru_cache(maxsize=1024)
def convert(source: str) -> Formula:
    """The formula as Unicode text, or (not faithful) its source and the reason."""
    try:
        text = join(_Parser(source).expression())
    except _Unfaithful as exc:
        return Formula(source, source.strip(), str(exc))
    except KeyError as exc:  # a letter missing from an alphabet's Unicode block
        return Formula(source, source.strip(), f"a letter with no Unicode form: {exc}")
    if not text:
        return Formula(source, source.strip(), "the formula is empty")
    return Formula(source, unicodedata.normalize("NFC", text))  # ŷ as one character
