"""The one shape of every API error: ``{"error": "<what is wrong>", ...details}`` as JSON."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web

E = TypeVar("E", bound=web.HTTPException)


def json_error(kind: type[E], message: str, headers: dict[str, str] | None = None, **details: Any) -> E:
    """An aiohttp HTTP exception of ``kind`` carrying the error as JSON (raise it)."""
    return kind(text=json.dumps({"error": message, **details}, ensure_ascii=False),
                content_type="application/json", headers=headers)
