"""The LaTeX math symbols the plain-text formulas know, each with how it is spaced.

Kinds: "atom" (a letter, a number, a symbol), "op" (a binary operator: spaces around it),
"rel" (a relation or arrow: spaces around it), "func" (a named function such as log: a space
after it), "big" (a big operator such as a sum: its limits cannot be written as text),
"open"/"close" (delimiters), "punct" (a comma: a space after it), "space".
"""

from __future__ import annotations

from functools import cache

Symbol = tuple[str, str]  # (text, kind)

_GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ϵ", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ",
    "varkappa": "ϰ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "omicron": "ο", "pi": "π",
    "varpi": "ϖ", "rho": "ρ", "varrho": "ϱ", "sigma": "σ", "varsigma": "ς", "tau": "τ",
    "upsilon": "υ", "phi": "ϕ", "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π",
    "Sigma": "Σ", "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}
_ATOMS = {
    "infty": "∞", "partial": "∂", "nabla": "∇", "forall": "∀", "exists": "∃", "nexists": "∄",
    "emptyset": "∅", "varnothing": "∅", "ell": "ℓ", "hbar": "ℏ", "aleph": "ℵ", "prime": "′",
    "dots": "…", "ldots": "…", "cdots": "⋯", "vdots": "⋮", "ddots": "⋱", "neg": "¬",
    "lnot": "¬", "top": "⊤", "bot": "⊥", "angle": "∠", "triangle": "△",
    "dagger": "†", "degree": "°", "checkmark": "✓", "Re": "ℜ", "Im": "ℑ", "wp": "℘",
    "vert": "|", "Vert": "‖", "|": "‖", "%": "%", "#": "#", "$": "$",
    "_": "_", "&": "&",
}
_OPS = {
    "pm": "±", "mp": "∓", "times": "×", "cdot": "·", "div": "÷", "ast": "∗", "circ": "∘",
    "bullet": "•", "cup": "∪", "cap": "∩", "setminus": "∖", "wedge": "∧", "land": "∧",
    "vee": "∨", "lor": "∨", "oplus": "⊕", "ominus": "⊖", "otimes": "⊗", "odot": "⊙",
    "star": "⋆",
}
_RELS = {
    "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥", "neq": "≠", "ne": "≠", "approx": "≈",
    "sim": "∼", "simeq": "≃", "cong": "≅", "equiv": "≡", "propto": "∝", "ll": "≪", "gg": "≫",
    "in": "∈", "notin": "∉", "ni": "∋", "subset": "⊂", "subseteq": "⊆", "supset": "⊃",
    "supseteq": "⊇", "to": "→", "rightarrow": "→", "leftarrow": "←", "gets": "←",
    "leftrightarrow": "↔", "Rightarrow": "⇒", "Leftarrow": "⇐", "Leftrightarrow": "⇔",
    "implies": "⇒", "iff": "⇔", "mapsto": "↦", "longrightarrow": "⟶", "uparrow": "↑",
    "downarrow": "↓", "mid": "|", "parallel": "∥", "perp": "⊥", "models": "⊨", "vdash": "⊢",
    "coloneqq": "≔", "triangleq": "≜", "prec": "≺", "succ": "≻", "preceq": "⪯",
    "succeq": "⪰",
}
_FUNCTIONS = ("log", "ln", "lg", "exp", "sin", "cos", "tan", "sec", "csc", "cot", "arcsin",
              "arccos", "arctan", "sinh", "cosh", "tanh", "det", "dim", "ker", "deg", "gcd",
              "lcm", "max", "min", "sup", "inf", "arg", "argmax", "argmin", "Pr", "hom",
              "limsup", "liminf")
_BIG = {"sum": "∑", "prod": "∏", "coprod": "∐", "int": "∫", "iint": "∬", "iiint": "∭",
        "oint": "∮", "bigcup": "⋃", "bigcap": "⋂", "bigoplus": "⨁", "bigotimes": "⨂",
        "lim": "lim"}
_DELIMITERS = {"langle": ("⟨", "open"), "rangle": ("⟩", "close"), "lfloor": ("⌊", "open"),
               "rfloor": ("⌋", "close"), "lceil": ("⌈", "open"), "rceil": ("⌉", "close"),
               "lvert": ("|", "open"), "rvert": ("|", "close"), "lVert": ("‖", "open"),
               "rVert": ("‖", "close"), "{": ("{", "open"), "}": ("}", "close")}
_SPACES = {",": " ", ":": " ", ";": " ", " ": " ", "!": "", "quad": " ", "qquad": " ",
           "enspace": " ", "thinspace": " "}

SYMBOLS: dict[str, Symbol] = {
    **{name: (text, "atom") for name, text in {**_GREEK, **_ATOMS}.items()},
    **{name: (text, "op") for name, text in _OPS.items()},
    **{name: (text, "rel") for name, text in _RELS.items()},
    **{name: (name, "func") for name in _FUNCTIONS},
    **{name: (text, "big") for name, text in _BIG.items()},
    **_DELIMITERS,
    **{name: (text, "space") for name, text in _SPACES.items()},
}

# Single characters of math mode: how each is spaced ("-" is the minus sign, U+2212).
CHARACTERS: dict[str, Symbol] = {
    "+": ("+", "op"), "-": ("−", "op"), "*": ("∗", "op"), "=": ("=", "rel"), "<": ("<", "rel"),
    ">": (">", "rel"), ":": (":", "rel"), ",": (",", "punct"), ";": (";", "punct"),
    "(": ("(", "open"), "[": ("[", "open"), ")": (")", "close"), "]": ("]", "close"),
    "'": ("′", "atom"), "~": (" ", "space"),
}

# Text and font macros whose one argument is shown as it is.
TEXT_MACROS = frozenset({"text", "textrm", "textit", "textbf", "textsf", "texttt", "mbox",
                         "mathrm", "mathit", "mathbf", "mathsf", "mathtt", "mathnormal",
                         "boldsymbol", "bm", "operatorname"})
# Alphabets with Unicode letters of their own: macro -> Unicode name prefix (and its older,
# letterlike-block fallback for the holes such as ℝ).
ALPHABETS = {"mathbb": ("MATHEMATICAL DOUBLE-STRUCK", "DOUBLE-STRUCK"),
             "mathcal": ("MATHEMATICAL SCRIPT", "SCRIPT"),
             "mathscr": ("MATHEMATICAL SCRIPT", "SCRIPT"),
             "mathfrak": ("MATHEMATICAL FRAKTUR", "BLACK-LETTER")}
# Accents on one letter, as combining characters.
ACCENTS = {"hat": "\u0302", "widehat": "\u0302", "bar": "\u0304", "overline": "\u0305",
           "tilde": "\u0303", "widetilde": "\u0303", "vec": "\u20d7", "dot": "\u0307",
           "ddot": "\u0308", "acute": "\u0301", "grave": "\u0300", "check": "\u030c",
           "breve": "\u0306"}
# Sizing macros that only change how the next delimiter is drawn.
SIZING = frozenset({"left", "right", "middle", "big", "Big", "bigg", "Bigg", "bigl", "bigr",
                    "Bigl", "Bigr", "biggl", "biggr", "displaystyle", "textstyle", "scriptstyle",
                    "limits", "nolimits"})
ROOTS = {"": "√", "2": "√", "3": "∛", "4": "∜"}

SUPERSCRIPTS = dict(zip("0123456789+−-=()niTabcdefghjklmoprstuvwxyz",
                        "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾ⁿⁱᵀᵃᵇᶜᵈᵉᶠᵍʰʲᵏˡᵐᵒᵖʳˢᵗᵘᵛʷˣʸᶻ", strict=True))
SUBSCRIPTS = dict(zip("0123456789+−-=()aehijklmnoprstuvxβγρφχ",
                      "₀₁₂₃₄₅₆₇₈₉₊₋₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓᵦᵧᵨᵩᵪ", strict=True))


@cache
def library_symbol(name: str) -> str | None:
    """A symbol macro the table above lacks, from pylatexenc's (loaded on first need: ~60 ms).

    Only macros that stand for fixed text count; any that takes arguments is left unknown.
    """
    from pylatexenc.latex2text import get_default_latex_context_db  # type: ignore[import-untyped]

    spec = get_default_latex_context_db().get_macro_spec(name)
    text = getattr(spec, "simplify_repl", None)
    if getattr(spec, "macroname", None) != name or not isinstance(text, str) or "%" in text:
        return None
    return text.strip() or None
