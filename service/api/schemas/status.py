"""Bodies of the health checks and of every error response."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Ready; the details are null when read keys are required and none was sent."""

    status: Literal["ready"] = "ready"
    model: str | None = None
    documents: int | None = None
    chunks: int | None = None
    index: dict[str, Any] | None = Field(default=None, description="The index's meta.json.")


class FieldError(BaseModel):
    field: str
    message: str


class ErrorInfo(BaseModel):
    code: str = Field(description="Machine-readable code, e.g. validation_error, not_found.")
    message: str = Field(description="Human-readable message; names the offending field.")
    details: list[FieldError] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """Body of every error response."""

    error: ErrorInfo
