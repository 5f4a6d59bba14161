"""How the greeting names a reader: "Hi Ada," by default."""

from __future__ import annotations

from typing import Literal

GENERIC_NAME = "there"
GreetingMode = Literal["first", "full", "none"]
GREETING_MODES: tuple[GreetingMode, ...] = ("first", "full", "none")


def greeting(name: str, mode: str) -> str:
    """The name in "Hi {name},": `first` (the default) the first given name, `full` the whole
    name, `none` always the generic "there"; a reader without a name gets "there" too.

    A "Family, Given" name (as some address books export) greets the given name.
    """
    if mode not in GREETING_MODES:
        raise ValueError(f"greeting_name must be one of {', '.join(GREETING_MODES)}, "
                         f"not {mode!r}")
    name = " ".join(name.split())
    if mode == "none" or not name:
        return GENERIC_NAME
    if mode == "full":
        return name
    family, comma, given = name.partition(",")
    words = (given if comma and given.strip() else family).split()
    return words[0] if words else GENERIC_NAME
