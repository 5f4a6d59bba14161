"""Footnotes: numbered in reading order across the whole email, listed per paper.

A paper's notes are gathered from all its sections (a definition usually sits at the end of
the file, in another section than its reference) and listed at the end of the paper; the
notes of an issue's own text are listed at the end of that text. Numbers run on from one
paper to the next, so every note has one number, and one anchor, in the email.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markdown_it.token import Token

from newsletter.render.markdown import Parsed, footnote_labels


@dataclass
class Notes:
    """The footnotes of one paper or one text: each defined label referred to, numbered."""

    definitions: dict[str, list[Token]]
    numbers: dict[str, int] = field(default_factory=dict)
    anchored: set[int] = field(default_factory=set)  # references given their id already

    def number(self, label: str) -> int | None:
        """The note's number, or None for a reference without a definition (kept as text)."""
        return self.numbers.get(label)

    def items(self) -> list[tuple[int, list[Token]]]:
        """(number, definition tokens) in number order."""
        return [(number, self.definitions[label]) for label, number in self.numbers.items()]

    def anchor(self, number: int) -> bool:
        """True the first time a reference to `number` is rendered: only it gets the id."""
        first = number not in self.anchored
        self.anchored.add(number)
        return first


class NoteCounter:
    """Hands out note numbers for one email, in the order the texts are first rendered."""

    def __init__(self) -> None:
        self.next = 1

    def notes(self, texts: list[Parsed]) -> Notes:
        """Number the notes referred to in `texts` (read in order), and those their notes
        refer to in turn."""
        definitions: dict[str, list[Token]] = {}
        for parsed in texts:
            for label, tokens in parsed.definitions.items():
                definitions.setdefault(label, tokens)
        notes = Notes(definitions)
        queue = [label for parsed in texts for label in parsed.note_labels()]
        while queue:
            label = queue.pop(0)
            if label in definitions and label not in notes.numbers:
                notes.numbers[label] = self.next
                self.next += 1
                queue += footnote_labels(definitions[label])
        return notes
