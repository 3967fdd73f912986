"""Request payloads and problem bodies (RFC 9457, application/problem+json)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

# Google's authorization codes are at most 256 bytes of URL-safe ASCII (docs/google.md#code-exchange); leave headroom.
CODE_PATTERN = r"^[A-Za-z0-9/_\-\.~+=]+$"
PUSH_TOKEN_PATTERN = r"^[A-Za-z0-9_:\-]+$"


class AuthCode(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    code: str = Field(min_length=8, max_length=512, pattern=CODE_PATTERN)
    source: Literal["picker", "inbox"] = "picker"
    platform: Literal["ios", "android", "web"] = "ios"
    # An FCM registration token (about 160 characters of these): the device told when its photos are ready.
    push_token: str | None = Field(default=None, min_length=20, max_length=1024, pattern=PUSH_TOKEN_PATTERN)


def problem(status: int, title: str, detail: str, **extra: object) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")
