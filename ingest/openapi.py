"""The OpenAPI 3.1 document of darkroom's public HTTP surface, served at /openapi.json."""

from __future__ import annotations

from typing import Any

from ingest.payloads import CODE_PATTERN, PUSH_TOKEN_PATTERN
from workers.intake import Platform, SourceKind, SubmissionStatus

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": _PROBLEM}


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "darkroom", "version": "1", "description": "Send a Google serverAuthCode; read its status."},
    "paths": {
        "/v1/auth-codes": {
            "post": {
                "operationId": "postAuthCode",
                "parameters": [
                    {
                        "name": "X-Requested-With",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["code"],
                                "properties": {
                                    "code": {
                                        "type": "string",
                                        "minLength": 8,
                                        "maxLength": 512,
                                        "pattern": CODE_PATTERN,
                                    },
                                    "source": {"type": "string", "enum": [*SourceKind], "default": SourceKind.PICKER},
                                    "platform": {"type": "string", "enum": [*Platform], "default": Platform.IOS},
                                    "push_token": {
                                        "type": ["string", "null"],
                                        "minLength": 20,
                                        "maxLength": 1024,
                                        "pattern": PUSH_TOKEN_PATTERN,
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "Recorded and queued (or the same code seen before).",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
                    },
                    "403": _problem("X-Requested-With is missing."),
                    "413": _problem("The body is over 4 KiB."),
                    "415": _problem("Not application/json."),
                    "422": _problem("The body does not match the schema."),
                    "429": _problem("Too many codes from this client this minute."),
                },
            }
        },
        "/v1/submissions/{submission_id}": {
            "get": {
                "operationId": "getSubmission",
                "parameters": [{"name": "submission_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {
                        "description": "The submission's status.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}},
                    },
                    "404": _problem("No such submission."),
                },
            }
        },
        "/healthz": {"get": {"operationId": "health", "responses": {"200": {"description": "Up."}}}},
    },
    "components": {
        "schemas": {
            "Problem": {
                "type": "object",
                "required": ["type", "title", "status", "detail"],
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "errors": {"type": "array"},
                },
            },
            "Accepted": {
                "type": "object",
                "required": ["submission_id", "status_url"],
                "properties": {
                    "submission_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                    "status_url": {"type": "string"},
                },
            },
            "Status": {
                "type": "object",
                "required": ["submission_id", "status", "counts", "error", "picker_uri"],
                "properties": {
                    "submission_id": {"type": "string"},
                    "status": {"enum": [*SubmissionStatus]},
                    "picker_uri": {"type": ["string", "null"]},
                    "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "error": {"oneOf": [{"type": "null"}, {"type": "object", "required": ["code", "detail"]}]},
                },
            },
        }
    },
}
