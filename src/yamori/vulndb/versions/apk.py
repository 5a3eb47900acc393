"""Alpine package versions, ordered as apk-tools orders them.

Written by hand: no Python library follows apk-tools, and Alpine, Wolfi and Chainguard
advisories are evaluated in apk's own order.

The grammar is `number{.number}...{letter}{_suffix{number}}...{~hash}{-r#}`. apk-tools reads
a version as a stream of tokens and compares the two streams token by token:
- tokens of the same kind compare by value: numbers numerically, except that a dotted number
  with a leading zero on either side compares as a string (Gentoo's rule, so 1.05 < 1.1); the
  letter by its code; suffixes in the order alpha < beta < pre < rc < (none) < cvs < svn < git
  < hg < p; a commit hash as a string;
- when the kinds differ, the version whose token is a pre-release suffix (alpha…rc) is older;
  otherwise the one that went further in the grammar is older — so "1.2" > "1.2_rc1" but
  "1.2" < "1.2_p1", "1.2" < "1.2.1" and "1.2" < "1.2-r1".
An invalid tail (a character out of place, an unknown suffix, "-" without "r"…) becomes an
"invalid" token that ends the stream: it sorts below every token kind except a pre-release
suffix, and two streams that turn invalid at the same point with equal heads compare equal
(apk-tools 3 ignores what follows). `apk version -t` answers for such versions, so they are
accepted rather than rejected: real package databases and advisories contain a few.

Where apk-tools 2.x (still the apk of most Alpine releases) and 3.x disagree, the key follows
the vectors both OSV and apk-tools test with (`version.data`, osv-scalibr's Alpine sets):
- digits right after the letter continue the version ("6.6.2p1" < "6.6.2p2", 2.x);
- "-r" with no number is revision 0 when the string ends or another "-" follows (2.x);
- a missing number (a leading non-digit, "1..2", "1.r2") is marked with an invalid token,
  as 3.x does, but parsing then goes on, as 2.x does, so "0.8.21.r1" < "0.8.21.r2" while
  both stay below the well-formed "0.8.21r2".

Each token becomes a tuple whose first fields rank its kind in that order, so the key of a
version is a plain tuple that compares like apk-tools' pairwise comparison.
"""

from __future__ import annotations

import re
from functools import lru_cache

from yamori.vulndb.versions.interface import VersionScheme
from yamori.vulndb.versions.registry import register

# token kinds, in grammar order (apk-tools' enum PARTS)
_INITIAL_DIGIT, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _HASH, _REVISION, _END, _INVALID = range(9)

_SUFFIXES = {
    "alpha": -4,
    "beta": -3,
    "pre": -2,
    "rc": -1,
    # 0 is "no suffix"
    "cvs": 1,
    "svn": 2,
    "git": 3,
    "hg": 4,
    "p": 5,
}

_DIGITS = re.compile(r"[0-9]*")
_SUFFIX_NAME = re.compile(r"[a-z]*")
_HEX = re.compile(r"[0-9a-f]*")

Token = tuple[int, int, int, int, str]
ApkKey = tuple[Token, ...]

_END_TOKEN: Token = (1, -_END, 0, 0, "")
_INVALID_TOKEN: Token = (1, -_INVALID, 0, 0, "")


def _digit_token(digits: str) -> Token:
    # a leading zero on either side makes apk-tools compare as strings; every such string
    # starts with "0", so it sorts before any number without one
    if digits[0] == "0":
        return (1, -_DIGIT, 0, 0, digits)
    return (1, -_DIGIT, 1, int(digits), "")


@lru_cache(maxsize=65536)
def apk_key(version: str) -> ApkKey:
    """Tokenise `version` the way apk-tools does; see the module docstring for the order."""
    text = version.strip()
    end = len(text)
    out: list[Token] = []
    match = _DIGITS.match(text)
    assert match is not None
    if match.group():
        out.append((1, -_INITIAL_DIGIT, 0, int(match.group()), ""))
        kind = _INITIAL_DIGIT
    else:
        # no leading number: mark the flaw, then read on (see _MARK)
        out.append(_INVALID_TOKEN)
        kind = _DIGIT
    pos = match.end()
    while pos < end:
        char = text[pos]
        if "a" <= char <= "z":
            if kind > _DIGIT:
                break
            out.append((1, -_LETTER, 0, ord(char), ""))
            kind = _LETTER
            pos += 1
        elif char == "." or "0" <= char <= "9":
            if char == ".":
                if kind > _DIGIT:
                    break
                pos += 1
                if pos == end or not "0" <= text[pos] <= "9":
                    # an empty dotted component ("1..2", "1.r2"): mark the flaw, read on
                    out.append(_INVALID_TOKEN)
                    kind = _DIGIT
                    continue
            if kind in (_INITIAL_DIGIT, _DIGIT) or (kind == _LETTER and char != "."):
                # lenient (apk-tools 2.x): digits right after the letter ("9.3p2") continue
                # the version, as in OpenSSH-style upstream versions Alpine ships
                kind = _DIGIT
            elif kind == _SUFFIX:
                kind = _SUFFIX_NO
            else:
                break
            match = _DIGITS.match(text, pos)
            assert match is not None
            digits = match.group()
            pos = match.end()
            if kind == _DIGIT:
                out.append(_digit_token(digits))
            else:
                out.append((1, -_SUFFIX_NO, 0, int(digits), ""))
        elif char == "_":
            if kind > _SUFFIX_NO:
                break
            match = _SUFFIX_NAME.match(text, pos + 1)
            assert match is not None
            suffix = _SUFFIXES.get(match.group())
            if suffix is None:
                break
            pos = match.end()
            kind = _SUFFIX
            out.append((0, suffix, 0, 0, "") if suffix < 0 else (1, -_SUFFIX, 0, suffix, ""))
        elif char == "~":
            if kind >= _HASH:
                break
            match = _HEX.match(text, pos + 1)
            assert match is not None
            if not match.group():
                break
            pos = match.end()
            kind = _HASH
            out.append((1, -_HASH, 0, 0, match.group()))
        elif char == "-":
            if kind >= _REVISION or not text.startswith("-r", pos):
                break
            match = _DIGITS.match(text, pos + 2)
            assert match is not None
            pos = match.end()
            # "-r" with no number is revision 0 when nothing or another "-" follows (2.x);
            # followed by anything else ("-ruff") the version is invalid right here (3.x)
            if not match.group() and pos < end and text[pos] != "-":
                break
            kind = _REVISION
            out.append((1, -_REVISION, 0, int(match.group() or "0"), ""))
        else:
            break
    else:
        out.append(_END_TOKEN)
        return tuple(out)
    out.append(_INVALID_TOKEN)
    return tuple(out)


def is_valid(version: str) -> bool:
    """Whether apk-tools accepts `version` as well formed (`apk_version_validate`)."""
    return _INVALID_TOKEN not in apk_key(version)


@register
class ApkScheme(VersionScheme):
    """Alpine, Wolfi and Chainguard: the order of `apk version -t`."""

    name = "apk"
    ecosystems = ("Alpine", "Wolfi", "Chainguard")

    def key(self, version: str) -> ApkKey:
        return apk_key(version)
