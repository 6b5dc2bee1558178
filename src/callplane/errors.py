"""Application errors carry their HTTP status and a machine code; one handler renders them."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel

from callplane.kit.schemas import ErrorBody


class AppError(Exception):
    """Base of every error the API reports on purpose."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    default_detail: ClassVar[str] = "Bad request."

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None):
        self.detail = detail or self.default_detail
        self.headers = headers
        super().__init__(self.detail)

    @classmethod
    def openapi(cls) -> dict[int | str, dict[str, Any]]:
        """A `responses=` entry documenting this error on a route."""
        return {cls.status: {"model": ErrorBody, "description": cls.default_detail}}


class BadRequest(AppError):
    status = 400
    code = "bad_request"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"
    default_detail = "Missing or invalid credential."

    def __init__(self, detail: str | None = None):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    default_detail = "The credential may not do this."


class NotFound(AppError):
    status = 404
    code = "not_found"
    default_detail = "Not found."


class Conflict(AppError):
    status = 409
    code = "conflict"
    default_detail = "The resource is in a state that does not allow this."


class PreconditionFailed(AppError):
    status = 412
    code = "precondition_failed"
    default_detail = "If-Match does not match the current ETag."


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    default_detail = "Request body is larger than the limit."


class DatabaseUnavailable(AppError):
    """The database was busy or unreachable (db.engine.is_transient): retry, it is not a bug."""

    status = 503
    code = "database_unavailable"
    default_detail = "The database is busy or unreachable; retry after the Retry-After delay."


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


VALIDATION_ERROR = "validation_error"


class ValidationErrorBody(BaseModel):
    """FastAPI's 422 shape for a request that fails validation (the SPEC keeps it), with the
    machine `code` every other error carries, so clients can branch on `code` alone."""

    detail: list[ValidationIssue]
    code: Literal["validation_error"]


def validation_error_body(issues: list[dict[str, Any]]) -> dict[str, Any]:
    """The body of every validation 422: the route's, the middleware's, the body decoder's."""
    return {"detail": issues, "code": VALIDATION_ERROR}


class UnprocessableRequest(AppError):
    """422 for rules a schema cannot express (e.g. a phone number in both lists)."""

    status = 422
    code = "unprocessable"

    @classmethod
    def openapi(cls) -> dict[int | str, dict[str, Any]]:
        """Documenting this 422 replaces FastAPI's validation-error 422 on the route: keep both."""
        return {
            cls.status: {
                "model": ErrorBody | ValidationErrorBody,
                "description": "Validation error, or a rule the schema cannot express.",
            }
        }


def merge_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """Combine the documented responses of several errors for a route's `responses=`."""
    merged: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        merged.update(error.openapi())
    return merged
