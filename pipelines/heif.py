"""HEIC/HEIF input (the iPhone default) through pi-heif: decode-only, its wheels carry no GPL encoder.

pi-heif's C code turns the strings of a file's item boxes into Python text without checking that they are
UTF-8, and crashes the whole process on one that is not (a one-byte change: an `infe` item type `Exi\\xff`).
So every string libheif would hand over is read here first, in Python, and a file with one that is not UTF-8
is refused before pi-heif sees it (`check`). Without pi-heif installed, HEIC is simply not among the formats.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

try:
    import pi_heif
    from pi_heif.as_plugin import HeifImageFile

    pi_heif.register_heif_opener()
    FORMATS: tuple[str, ...] = ("HEIF",)
except ImportError:  # pragma: no cover - pi-heif is a dependency; this keeps pipelines importable without it
    FORMATS = ()
    HeifImageFile = None

_MAX_BOXES = 4096  # in one container: a photo has tens (an iPhone HEIC's iinf lists some fifty tiles)
_MAX_DEPTH = 8  # boxes nest a few levels deep in a photo (meta > iprp > ipco > auxC); more is hostile


class BadHeif(ValueError):
    """A HEIF box whose strings are not UTF-8 text, or whose sizes do not fit in the file."""


def is_heif(data: bytes) -> bool:
    return data[4:8] == b"ftyp"


def check(data: bytes) -> None:
    """Raise BadHeif unless every item type, item name, content type, URI type and auxiliary type in data is
    UTF-8 text: what pi-heif would otherwise crash on."""
    _walk(memoryview(data), 0)


def copies_whole_picture(image: object) -> bool:
    """pi-heif's load() copies libheif's whole decoded picture into the image with Pillow's frombytes, which
    raises when the data is short: every pixel of a frame it decodes into is written, or the load fails."""
    return HeifImageFile is not None and isinstance(image, HeifImageFile)


def _boxes(data: memoryview) -> Iterator[tuple[bytes, memoryview]]:
    """(type, body) of each box in data, in order, one at a time; BadHeif when a size runs past the end, or when
    a container holds more boxes than any photo does (a file of millions of empty boxes costs nothing to read)."""
    at, count = 0, 0
    while at + 8 <= len(data):
        count += 1
        if count > _MAX_BOXES:
            raise BadHeif(f"more than {_MAX_BOXES} boxes in one container")
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            if at + 16 > len(data):
                raise BadHeif("a box's 64-bit size is cut off")
            (size,) = struct.unpack_from(">Q", data, at + 8)
            header = 16
        elif size == 0:
            size = len(data) - at
        if size < header or at + size > len(data):
            raise BadHeif(f"the {kind!r} box's size does not fit in the file")
        yield kind, data[at + header : at + size]
        at += size


# Boxes whose children are boxes right after a full box's 4 bytes of version and flags (or none, for iprp/ipco).
_FULL_CONTAINERS = {b"meta"}
_CONTAINERS = {b"iprp", b"ipco"}


def _walk(data: memoryview, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise BadHeif("boxes nested too deep")
    for kind, body in _boxes(data):
        if kind in _FULL_CONTAINERS:
            _walk(body[4:], depth + 1)
        elif kind in _CONTAINERS:
            _walk(body, depth + 1)
        elif kind == b"iinf":
            _item_infos(body, depth)
        elif kind == b"auxC":  # an auxiliary image's type, a URN (depth, alpha)
            _strings(body[4:], kind, 1)


def _item_infos(body: memoryview, depth: int) -> None:
    version = body[0] if len(body) else 0
    start = 6 if version == 0 else 8  # version and flags, then a 16- or 32-bit entry count
    for kind, infe in _boxes(body[start:]):
        if kind == b"infe":
            _item_info(infe)


def _item_info(infe: memoryview) -> None:
    if len(infe) < 4:
        raise BadHeif("an infe box is cut off")
    version = infe[0]
    if version < 2:  # item_ID, protection index, then name, content type, encoding
        _strings(infe[8:], b"infe", 3)
        return
    at = 4 + (2 if version == 2 else 4) + 2  # item_ID (16 or 32 bits), protection index
    item_type = bytes(infe[at : at + 4])
    _strings(memoryview(item_type), b"infe item type", 1)
    # the name; a `mime` item's content type and encoding; a `uri ` item's URI type
    _strings(infe[at + 4 :], b"infe", {b"mime": 3, b"uri ": 2}.get(item_type, 1))


def _strings(data: memoryview, kind: bytes, count: int) -> None:
    """The first `count` NUL-terminated strings of data (an unterminated last one runs to the end, as libheif
    reads it), each UTF-8."""
    for part in bytes(data).split(b"\x00", count)[:count]:
        try:
            part.decode("utf-8")
        except UnicodeDecodeError:
            raise BadHeif(f"a {kind.decode('ascii', 'replace')} string is not UTF-8") from None
