"""HEIC/HEIF input (the iPhone default) through pi-heif: decode-only, its wheels carry no GPL encoder.

Without it installed, HEIC is simply not among the formats we open.
"""

from __future__ import annotations

try:
    import pi_heif

    pi_heif.register_heif_opener()
    FORMATS: tuple[str, ...] = ("HEIF",)
except ImportError:  # pragma: no cover - pi-heif is a dependency; this keeps pipelines importable without it
    FORMATS = ()
