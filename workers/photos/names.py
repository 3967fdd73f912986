"""The file name darkroom gives an upload: the user's own name, made safe, and a short marker of its ledger item.

Google reads the name only from `simpleMediaItem.fileName` in batchCreate ("shouldn't be more than 255
characters", docs/google.md#photos-library), never from a header (a CJK or emoji name cannot travel in one). The marker
is how an uncertain batchCreate is settled: darkroom finds its items in the album by name. Descriptions belong
to the user and stay empty.
"""

from __future__ import annotations

import base64
import re
import unicodedata

MAX_NAME = 255
MARKER = re.compile(r"-darkroom-([a-z2-7]{10})\.jpg$")
# Bidirectional overrides and isolates: they make a name read other than it is (CVE-2021-42574's trick).
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def marker(item_id: str) -> str:
    """10 base32 characters (50 bits) of the item's 128-bit id: unique enough within one user's album."""
    return base64.b32encode(bytes.fromhex(item_id)).decode().lower()[:10]


def output_name(filename: str | None, item_id: str) -> str:
    """`<the user's stem>-darkroom-<marker>.jpg`, at most 255 characters, cut on a character boundary."""
    suffix = f"-darkroom-{marker(item_id)}.jpg"
    stem = clean(filename or "").rsplit(".", 1)[0].strip() or "photo"
    return stem[: MAX_NAME - len(suffix)] + suffix


def marker_of(filename: str) -> str | None:
    found = MARKER.search(filename)
    return found.group(1) if found else None


def clean(name: str) -> str:
    """Any Unicode a user may choose (CJK, emoji and their joiners), without control characters, lone
    surrogates, line separators or bidirectional overrides: what is left encodes as valid UTF-8."""
    return "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cs", "Zl", "Zp") and c not in _BIDI)
