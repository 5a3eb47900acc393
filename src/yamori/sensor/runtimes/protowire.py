"""Just enough of the protobuf wire format for the CRI messages the sensor sends and reads.

Why by hand: the CRI client needs five requests and two responses, a handful of fields each;
generated stubs would pull in ``protobuf`` and a build step for ~80 kB of ``api.proto`` that
changes every Kubernetes release, while the wire format has not changed since 2008. Unknown
fields are skipped, so newer runtimes (more fields) decode fine.

Encoding: ``encode([(1, "id"), (2, True), (3, [(1, "nested")]), (6, {"k": "v"})])`` — ints and
bools are varints, ``str``/``bytes`` length-delimited, a list of pairs a nested message and a
dict a ``map<string, string>`` (one entry message per key). Decoding: ``decode(buf)`` gives
field number → list of raw values (``int`` for varint and fixed, ``bytes`` for the rest); the
helpers read one typed field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Union

__all__ = [
    "DecodeError",
    "Fields",
    "boolean",
    "decode",
    "encode",
    "integer",
    "message",
    "messages",
    "string",
    "string_map",
]

Value = Union[int, bool, str, bytes, "Sequence[tuple[int, Value]]", Mapping[str, str]]
Fields = dict[int, list[int | bytes]]


class DecodeError(ValueError):
    """The bytes are not a protobuf message (truncated or a wire type this decoder lacks)."""


def _varint(n: int) -> bytes:
    if n < 0:
        n &= (1 << 64) - 1  # negative int32/int64 take ten bytes on the wire
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _length_delimited(number: int, data: bytes) -> bytes:
    return _key(number, 2) + _varint(len(data)) + data


def encode(fields: Sequence[tuple[int, Value]]) -> bytes:
    """One message from (field number, value) pairs, in the given order."""
    out = bytearray()
    for number, value in fields:
        if isinstance(value, bool | int):
            out += _key(number, 0) + _varint(int(value))
        elif isinstance(value, str):
            out += _length_delimited(number, value.encode())
        elif isinstance(value, bytes):
            out += _length_delimited(number, value)
        elif isinstance(value, Mapping):
            for k, v in value.items():
                out += _length_delimited(number, encode([(1, k), (2, v)]))
        else:
            out += _length_delimited(number, encode(value))
    return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise DecodeError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def decode(buf: bytes) -> Fields:
    """Field number → raw values in order (repeated fields and map entries keep every value)."""
    out: Fields = {}
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 2:
            size, pos = _read_varint(buf, pos)
            if pos + size > end:
                raise DecodeError("truncated length-delimited field")
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 1:
            if pos + 8 > end:
                raise DecodeError("truncated fixed64")
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 5:
            if pos + 4 > end:
                raise DecodeError("truncated fixed32")
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise DecodeError(f"unsupported wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _last(fields: Fields, number: int) -> int | bytes | None:
    values = fields.get(number)
    return values[-1] if values else None  # proto3: the last occurrence wins


def string(fields: Fields, number: int) -> str:
    value = _last(fields, number)
    return value.decode(errors="replace") if isinstance(value, bytes) else ""


def integer(fields: Fields, number: int, *, signed: bool = True) -> int:
    value = _last(fields, number)
    if not isinstance(value, int):
        return 0
    if signed and value >= 1 << 63:
        value -= 1 << 64
    return value


def boolean(fields: Fields, number: int) -> bool:
    return bool(integer(fields, number, signed=False))


def message(fields: Fields, number: int) -> Fields:
    """A nested message (empty when absent, as proto3 reads a missing message)."""
    value = _last(fields, number)
    return decode(value) if isinstance(value, bytes) else {}


def messages(fields: Fields, number: int) -> list[Fields]:
    """A repeated nested message."""
    return [decode(v) for v in fields.get(number, []) if isinstance(v, bytes)]


def string_map(fields: Fields, number: int) -> dict[str, str]:
    """A ``map<string, string>``: entries are messages with key 1 and value 2."""
    return {string(entry, 1): string(entry, 2) for entry in messages(fields, number)}
