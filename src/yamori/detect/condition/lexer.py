"""Scanner for Falco filter conditions.

Falco's grammar is context-sensitive at the token level: ``runc:[0:PARENT]`` is one bare value,
``[2]`` after a field is an argument, and ``in`` is an operator only after a field. So instead of
tokenising the whole text up front, the parser pulls the token kind it expects next from this
scanner, which only knows how to read each kind at the current position and where it is (for
error messages with line and column).
"""

from __future__ import annotations

import re

__all__ = ["ConditionSyntaxError", "Scanner", "is_identifier", "quote_value"]

# Names of macros and lists; field names are dotted sequences of these.
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
# libsinsp's bare value: anything up to whitespace, a quote, a parenthesis, '=' or ','.
_BARE_VALUE = re.compile(r"""[^()"'\s=,]+""")
# A bare field argument: ``[/a/b]``, ``[2]``; anything but whitespace, brackets and quotes.
_BARE_ARG = re.compile(r"""[^\s\[\]"']+""")
_NUMBER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPACE = re.compile(r"\s*")
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_.]")

_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class ConditionSyntaxError(ValueError):
    """A condition that does not parse, with where: ``pos`` (0-based offset), ``line``, ``column``.

    Line and column are 1-based because rule conditions span several YAML lines and people
    look them up in an editor.
    """

    def __init__(self, message: str, text: str, pos: int) -> None:
        pos = max(0, min(pos, len(text)))
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        super().__init__(f"{message} (line {line}, column {column})")
        self.reason = message
        self.pos = pos
        self.line = line
        self.column = column


class Scanner:
    """Cursor over a condition text that reads one kind of token at a time."""

    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, pos: int | None = None) -> ConditionSyntaxError:
        """Build (not raise) an error at ``pos`` or the cursor, so callers write ``raise``."""
        return ConditionSyntaxError(message, self.text, self.pos if pos is None else pos)

    def skip_space(self) -> None:
        m = _SPACE.match(self.text, self.pos)
        assert m is not None  # \s* always matches
        self.pos = m.end()

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        """The current character, or "" at the end."""
        return self.text[self.pos : self.pos + 1]

    def take(self, literal: str) -> bool:
        """Consume ``literal`` if it is next."""
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def at_keyword(self, word: str) -> bool:
        """Whether ``word`` is next as a whole word (``notify`` is not ``not``)."""
        end = self.pos + len(word)
        if not self.text.startswith(word, self.pos):
            return False
        return end >= len(self.text) or not _IDENT_CHAR.match(self.text, end)

    def take_keyword(self, word: str) -> bool:
        if self.at_keyword(word):
            self.pos += len(word)
            return True
        return False

    def _take_re(self, pattern: re.Pattern[str]) -> str | None:
        m = pattern.match(self.text, self.pos)
        if m is None or not m.group():
            return None
        self.pos = m.end()
        return m.group()

    def take_field_name(self) -> str | None:
        """A dotted name (field) or an undotted one (macro, list, transformer)."""
        return self._take_re(_FIELD_NAME)

    def take_word(self) -> str | None:
        """An alphabetic word: a word operator, a transformer name, or an identifier."""
        return self._take_re(_WORD)

    def take_bare_value(self) -> str | None:
        return self._take_re(_BARE_VALUE)

    def take_bare_arg(self) -> str | None:
        return self._take_re(_BARE_ARG)

    def take_number(self) -> str | None:
        """A number, only if it is not the start of a longer bare word (``12ab``)."""
        start = self.pos
        num = self._take_re(_NUMBER)
        if num is None:
            return None
        rest = _BARE_VALUE.match(self.text, self.pos)
        if rest is not None and rest.group():
            self.pos = start
            return None
        return num

    def take_quoted(self) -> str | None:
        """A single- or double-quoted string with backslash escapes, unescaped.

        ``\\\\``, ``\\"``, ``\\'`` and ``\\b \\f \\n \\r \\t`` are escapes; any other backslash is kept
        as written, so ``"\\ "`` stays a backslash and a space as rule authors mean it.
        """
        quote = self.peek()
        if quote not in ("'", '"'):
            return None
        start = self.pos
        out: list[str] = []
        i = self.pos + 1
        text = self.text
        n = len(text)
        while i < n:
            ch = text[i]
            if ch == quote:
                self.pos = i + 1
                return "".join(out)
            if ch == "\\" and i + 1 < n:
                nxt = text[i + 1]
                if nxt in _ESCAPES:
                    out.append(_ESCAPES[nxt])
                else:
                    out.append(ch + nxt)
                i += 2
                continue
            out.append(ch)
            i += 1
        raise self.error("unterminated string", start)


def is_identifier(text: str) -> bool:
    """Whether ``text`` is a bare name that may refer to a list or macro."""
    return _IDENT.fullmatch(text) is not None


def quote_value(text: str) -> str:
    """Spell ``text`` as a condition value: bare if it lexes as one bare word, else quoted.

    The loader substitutes list items into conditions as text (as Falco does); this keeps items
    with spaces, quotes or parentheses intact through that round trip.
    """
    m = _BARE_VALUE.fullmatch(text)
    if m is not None and "\\" not in text:
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
