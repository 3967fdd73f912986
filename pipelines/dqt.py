"""Sharpening inside the JPEG decoder: scale the luma quantization table by an unsharp-mask response.

A JPEG decoder multiplies each DCT coefficient by its quantization table entry before the inverse DCT.
Scaling the entries of the luma table by 1 + a * (1 - G(w)), with G the response of a Gaussian blur,
makes the decoder itself apply an unsharp mask to luminance only, at no cost per pixel. Done to a source
JPEG before darkroom decodes it, or to the JPEG darkroom wrote for any other input (PNG, WebP, HEIC), so that
whoever decodes it next sharpens it, the same way. Enhancing in the
DCT domain is an established technique (Tang, Peli and Acton, "Image enhancement using a contrast measure
in the compressed domain", IEEE Signal Processing Letters 10(10), 2003).

Pure standard library: it rewrites DQT segments and leaves every other byte as it was.
"""

from __future__ import annotations

import functools
import math
import struct
from dataclasses import dataclass

# Zigzag position k of a DQT segment -> natural (row-major) index v * 8 + u (ITU T.81, figure A.6).
ZIGZAG = (
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
    28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
    54, 47, 55, 62, 63,
)  # fmt: skip
_SOF = {0xC0, 0xC1, 0xC2}  # baseline, extended and progressive Huffman frames
_DQT, _SOS = 0xDB, 0xDA
# Standard luminance table (ITU T.81 K.1), for estimating the quality a file was saved at.
_STANDARD_LUMA = (
    16,
    11,
    12,
    14,
    12,
    10,
    16,
    14,
    13,
    14,
    18,
    17,
    16,
    19,
    24,
    40,
    26,
    24,
    22,
    22,
    24,
    49,
    35,
    37,
    29,
    40,
    58,
    51,
    61,
    60,
    57,
    51,
    56,
    55,
    64,
    72,
    92,
    78,
    64,
    68,
    87,
    69,
    55,
    56,
    80,
    109,
    81,
    87,
    95,
    98,
    103,
    104,
    103,
    62,
    77,
    113,
    121,
    112,
    100,
    120,
    92,
    101,
    103,
    99,
)  # fmt: skip  (zigzag order, as stored)


@dataclass(frozen=True)
class Sharpen:
    amount: float  # the unsharp mask's amount: 0.6 adds 60 % of the detail back
    sigma: float  # the blur's standard deviation in pixels

    def factors(self) -> list[float]:
        """Per zigzag position: 1 + amount * (1 - exp(-sigma^2 w^2 / 2)), w the basis frequency in rad/px."""
        return list(_factors(self.amount, self.sigma))


@functools.cache
def _factors(amount: float, sigma: float) -> tuple[float, ...]:
    out = []
    for position in ZIGZAG:
        v, u = divmod(position, 8)
        w2 = (math.pi / 8) ** 2 * (u * u + v * v)
        out.append(1.0 + amount * (1.0 - math.exp(-(sigma**2) * w2 / 2)))
    return tuple(out)


@dataclass
class _Table:
    precision: int
    table_id: int
    values: list[int]

    def encode(self) -> bytes:
        wide = self.precision or max(self.values) > 255
        packed = struct.pack(">64H", *self.values) if wide else bytes(self.values)
        return bytes([(0x10 if wide else 0) | self.table_id]) + packed


def _segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each segment before the first scan; ValueError if the layout is off."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    found: list[tuple[int, int, int]] = []
    i = 2
    while True:
        if i + 4 > len(data) or data[i] != 0xFF:
            raise ValueError("malformed marker")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == _SOS:
            return found
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if length < 2 or i + 2 + length > len(data):
            raise ValueError("malformed segment")
        found.append((marker, i, i + 2 + length))
        i += 2 + length


def first_scan_components(data: bytes) -> int | None:
    """How many components the first scan of a JPEG carries (all of them when the photo is one interleaved
    scan), or None where the layout is off."""
    try:
        segments = _segments(data)
        at = segments[-1][2] if segments else 2
        return data[at + 4] if data[at : at + 2] == b"\xff\xda" else None
    except (ValueError, IndexError):
        return None


def _tables(segment: bytes) -> list[_Table]:
    tables, j = [], 0
    while j < len(segment):
        precision, table_id = segment[j] >> 4, segment[j] & 15
        size = 128 if precision else 64
        if precision > 1 or table_id > 3 or j + 1 + size > len(segment):
            raise ValueError("malformed DQT")
        raw = segment[j + 1 : j + 1 + size]
        values = list(struct.unpack(">64H", raw)) if precision else list(raw)
        tables.append(_Table(precision, table_id, values))
        j += 1 + size
    return tables


def _luma_table_id(frame: bytes) -> int | None:
    """The luma component's table, if it has one of its own (YCbCr with three components)."""
    if len(frame) < 6 or frame[5] != 3 or len(frame) < 6 + 9:
        return None
    selectors = [frame[6 + 3 * n + 2] for n in range(3)]
    return selectors[0] if selectors[0] not in selectors[1:] else None


def sharpened(data: bytes, sharpen: Sharpen, max_value: int = 65535) -> bytes | None:
    """The same JPEG with its luma table scaled, or None where this cannot be done safely. `max_value` 255
    keeps the tables 8-bit, as a baseline JPEG written for others to decode must have them (ITU T.81 B.2.4.1)."""
    try:
        segments = _segments(data)
        frames = [data[s + 4 : e] for marker, s, e in segments if marker in _SOF]
        if len(frames) != 1 or any(marker in (0xEE,) for marker, _, _ in segments):
            return None  # no frame, several, or an Adobe APP14 (maybe RGB- or CMYK-coded)
        luma = _luma_table_id(frames[0])
        if luma is None:
            return None
        out, last, factors, touched = bytearray(), 0, sharpen.factors(), False
        for marker, start, end in segments:
            if marker != _DQT:
                continue
            tables = _tables(data[start + 4 : end])
            for table in tables:
                if table.table_id == luma:
                    table.values = [
                        min(max_value, max(1, round(q * f))) for q, f in zip(table.values, factors, strict=True)
                    ]
                    touched = True
            body = b"".join(t.encode() for t in tables)
            out += data[last:start] + b"\xff\xdb" + struct.pack(">H", len(body) + 2) + body
            last = end
        return bytes(out + data[last:]) if touched else None
    except (ValueError, struct.error, IndexError):
        return None


def estimated_quality(data: bytes) -> int | None:
    """The libjpeg quality (1-100) whose scaled standard table is closest to this file's first table."""
    try:
        tables = [t for m, s, e in _segments(data) if m == _DQT for t in _tables(data[s + 4 : e])]
    except (ValueError, struct.error, IndexError):
        return None
    first = next((t for t in tables if t.table_id == 0), None)
    if first is None:
        return None
    scale = 100.0 * sum(q / s for q, s in zip(first.values, _STANDARD_LUMA, strict=True)) / 64
    quality = (200.0 - scale) / 2 if scale <= 100 else 5000.0 / scale
    return max(1, min(100, round(quality)))
