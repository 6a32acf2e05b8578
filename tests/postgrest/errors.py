"""PostgREST-shaped errors: the JSON body and the SQLSTATE -> HTTP status mapping.

The mapping follows the table in PostgREST's docs (references/errors.rst, "HTTP Status Codes"),
so a client sees the same status for a database error as it would against a real PostgREST.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

# A stand-in for a feature this server deliberately does not implement. Not a PostgREST code:
# a test that trips it should fail loudly rather than get a silently different answer.
UNSUPPORTED = "STANDIN501"


@dataclass
class ApiError(Exception):
    """An error response: HTTP status plus PostgREST's {code, message, details, hint} body."""

    status: int
    code: str
    message: str
    details: str | None = None
    hint: str | None = None

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "hint": self.hint,
        }


def unsupported(what: str) -> ApiError:
    return ApiError(
        501,
        UNSUPPORTED,
        f"{what} is not supported by the PostgREST stand-in",
        hint="See tests/postgrest/README.md for the supported subset",
    )


def bad_request(code: str, message: str, details: str | None = None) -> ApiError:
    return ApiError(400, code, message, details)


# Exact codes first, then two-character classes, as the documented table reads.
_EXACT: dict[str, int] = {
    "23503": 409,
    "23505": 409,
    "25006": 405,
    "53400": 500,
    "P0001": 400,
    "42883": 404,
    "42P01": 404,
    "42P17": 500,
}
_CLASS: dict[str, int] = {
    "08": 503,
    "09": 500,
    "0L": 403,
    "0P": 403,
    "25": 500,
    "28": 403,
    "2D": 500,
    "38": 500,
    "39": 500,
    "3B": 500,
    "40": 500,
    "53": 503,
    "54": 500,
    "55": 500,
    "57": 500,
    "58": 500,
    "F0": 500,
    "HV": 500,
    "P0": 500,
    "XX": 500,
}


def status_for_sqlstate(sqlstate: str, *, anonymous: bool) -> int:
    """HTTP status PostgREST answers for a PostgreSQL error code."""
    if sqlstate == "42501":
        # Insufficient privilege: 401 invites the anonymous caller to authenticate.
        return 401 if anonymous else 403
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])  # RAISE sqlstate 'PT402' -> HTTP 402, as documented.
    if sqlstate in _EXACT:
        return _EXACT[sqlstate]
    return _CLASS.get(sqlstate[:2], 400)


def from_database(exc: psycopg.Error, *, anonymous: bool) -> ApiError:
    """Forward a PostgreSQL error the way PostgREST does: its fields verbatim, mapped status."""
    sqlstate = exc.sqlstate or "XX000"
    diag = exc.diag
    return ApiError(
        status_for_sqlstate(sqlstate, anonymous=anonymous),
        sqlstate,
        diag.message_primary or str(exc),
        diag.message_detail,
        diag.message_hint,
    )
