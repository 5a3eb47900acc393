"""Maven version order: the "Version Order Specification" of the POM reference, which
`org.apache.maven.artifact.versioning.ComparableVersion` implements.

Hand-written because no maintained Python library implements it. The rules:

* The (lower-cased) version is split into tokens at "." and "-" and at every transition
  between digits and non-digits; a transition counts as "-". Each token remembers its
  separator. An empty token reads as "0". Numbers drop leading zeros.
* Qualifiers: alpha < beta < milestone < rc = cr < snapshot < "" = ga = final = release < sp;
  other qualifiers sort after these, alphabetically. "a", "b", "m" directly followed by a
  digit mean alpha, beta, milestone ("1a1" = "1-alpha-1").
* Trailing null tokens (0, "", ga, final, release) are trimmed, and again before each
  remaining "-" from the end to the start ("1.0-alpha" = "1-alpha", "1-ga-1" = "1-1").
* Tokens compare: same separator -> numbers numerically, qualifier < number, qualifiers by the
  order above; different separators -> ".qualifier" < "-qualifier" < "-number" < ".number".
* The shorter version is padded with nulls that take the separator of the other side's token:
  "." pads as 0 against a number and as the release qualifier "" against a qualifier (so
  1.sp > 1 and 1.alpha < 1), "-" pads as "" (so 1-1 > 1 and 1-alpha < 1).

Because padding depends on the other version's token, no flat tuple orders like Maven
(1 == 1.0 < 1.sp < 1.0.1 cannot be encoded element-wise); the key is a small object that
compares token lists with that padding. Its hash ignores trailing tokens equal to their pad, so
equal versions hash equally.

Maven's order is not transitive in one corner, and neither is this one, on purpose: when a
"."-qualifier and a "-"-qualifier meet opposite a shorter version, ComparableVersion gives
1 < 1.sp < 1-alpha < 1. Every pairwise answer matches Maven; sorting a set containing such a
cycle has no single right answer. It needs a "."-qualifier other than the null ones
(".Final" and ".RELEASE" are trimmed), such as ".SP1", so real ranges rarely meet it.
"""

from __future__ import annotations

import re
from functools import lru_cache

from yamori.vulndb.versions.interface import InvalidVersion, VersionScheme
from yamori.vulndb.versions.registry import register

# Token: (rank, number, qualifier-name). rank orders separators and kinds:
# ".qualifier" 0 < "-qualifier" 1 < "-number" 2 < ".number" 3. Numbers carry their value and
# "", qualifiers their order index (7 for unknown) and their name (only used for unknown).
Token = tuple[int, int, str]

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_RELEASE = _QUALIFIERS.index("")
_UNKNOWN = len(_QUALIFIERS)
_ALIASES = {"cr": "rc", "ga": "", "final": "", "release": ""}
_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}
_DOT_Q, _DASH_Q, _DASH_N, _DOT_N = 0, 1, 2, 3

_PIECES = re.compile(r"[.-]|\d+|[^\d.-]+")


def _token(sep: str, text: str, followed_by_digit: bool) -> Token:
    if text.isdigit():
        return (_DOT_N if sep == "." else _DASH_N, int(text), "")
    if followed_by_digit:
        text = _SHORT.get(text, text)
    text = _ALIASES.get(text, text)
    if text in _QUALIFIERS:
        return (_DOT_Q if sep == "." else _DASH_Q, _QUALIFIERS.index(text), "")
    return (_DOT_Q if sep == "." else _DASH_Q, _UNKNOWN, text)


def _pad(other: Token) -> Token:
    """The null token standing in for a missing one, opposite `other`."""
    if other[0] == _DOT_N:
        return (_DOT_N, 0, "")
    if other[0] == _DOT_Q:
        return (_DOT_Q, _RELEASE, "")
    return (_DASH_Q, _RELEASE, "")


def _is_null(token: Token) -> bool:
    """0 (after "." or "-") or the release qualifier ("", ga, final, release)."""
    if token[0] in (_DOT_N, _DASH_N):
        return token[1] == 0
    return token[1] == _RELEASE


def _tokenize(version: str) -> tuple[Token, ...]:
    pieces = _PIECES.findall(version.lower())
    tokens: list[Token] = []
    sep = "."  # the first token compares as if "."-separated: 1 > alpha
    pending = True  # a separator was seen and no token read since (empty token -> "0")
    for i, piece in enumerate(pieces):
        if piece in (".", "-"):
            if pending:
                tokens.append(_token(sep, "0", False))
            sep, pending = piece, True
            continue
        if not pending:
            sep = "-"  # digit/non-digit transition
        nxt = pieces[i + 1] if i + 1 < len(pieces) else ""
        tokens.append(_token(sep, piece, nxt[:1].isdigit()))
        pending = False
    if pending and pieces:
        tokens.append(_token(sep, "0", False))
    return _trim(tokens)


def _trim(tokens: list[Token]) -> tuple[Token, ...]:
    """Drop null tokens at the end and before each "-" group, from the end to the start."""
    i = len(tokens) - 1
    while i > 0:
        if _is_null(tokens[i]):
            del tokens[i]
            i -= 1
            continue
        # skip back to the start of this "-" group, then trim what precedes it
        while i >= 0 and tokens[i][0] not in (_DASH_Q, _DASH_N):
            i -= 1
        i -= 1
    return tuple(tokens)


class MavenKey:
    """Comparable Maven version (see the module docstring for why it is not a tuple)."""

    __slots__ = ("_hash", "tokens")

    def __init__(self, tokens: tuple[Token, ...]) -> None:
        self.tokens = tokens
        core = list(tokens)
        while core and core[-1] == _pad(core[-1]):
            core.pop()
        self._hash = hash(tuple(core))

    def _cmp(self, other: MavenKey) -> int:
        a, b = self.tokens, other.tokens
        for i in range(max(len(a), len(b))):
            x = a[i] if i < len(a) else _pad(b[i])
            y = b[i] if i < len(b) else _pad(a[i])
            if x != y:
                return -1 if x < y else 1
        return 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MavenKey) and self._cmp(other) == 0

    def __hash__(self) -> int:
        return self._hash

    def __lt__(self, other: MavenKey) -> bool:
        return self._cmp(other) < 0

    def __le__(self, other: MavenKey) -> bool:
        return self._cmp(other) <= 0

    def __gt__(self, other: MavenKey) -> bool:
        return self._cmp(other) > 0

    def __ge__(self, other: MavenKey) -> bool:
        return self._cmp(other) >= 0

    def __repr__(self) -> str:
        return f"MavenKey({self.tokens!r})"


@lru_cache(maxsize=65536)
def _key(version: str) -> MavenKey:
    text = version.strip()
    if not text:
        raise InvalidVersion("empty Maven version")
    return MavenKey(_tokenize(text))


@register
class MavenScheme(VersionScheme):
    """Maven (ComparableVersion / POM version order specification)."""

    name = "maven"
    ecosystems = ("Maven",)

    def key(self, version: str) -> MavenKey:
        return _key(version)
