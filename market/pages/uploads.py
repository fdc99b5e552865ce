"""An operator's form that uploads a file (a licence's scan or photo), read as a stream within bounds, and its
guard, :func:`market_upload`.

The shared page guard (:func:`webkit.pages.page`) reads every POST as a form of text fields and refuses files, so
a form with a file has this guard instead, with the same checks in an order that reads no more than needed: signed
in (else to sign-in), the role (else 403), the market in the signed-in person's scope (else the page of a market
that does not exist, 404), then the body — text fields bounded as the shared guard bounds them, at most one file,
read up to the scan limit and counted (not kept) beyond it, so that a too-large photo still comes back as a message
next to its field with everything else as typed; a body far beyond it is refused unread (413) — and then the CSRF
token, as every form's. A form posted without multipart (no file at all) is read as the shared guard reads it."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Final
from urllib.parse import quote, urlsplit

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDict, MultiDictProxy

from market.pages.context import site_of, unknown_market
from market.scans import size_text
from webkit.auth import PRINCIPAL, Handler
from webkit.identity import Role
from webkit.pages import (
    CSRF_FIELD,
    MAX_FIELD_CHARS,
    PageProblem,
    csrf_token,
    error_page,
    form_of,
    safe_next,
    session_principal,
)

log = logging.getLogger(__name__)

MAX_PARTS: Final = 40
CHUNK_BYTES: Final = 64 * 1024
COUNTED_BEYOND: Final = 4
"""How many times the scan limit of a file is read (and dropped) to answer "too large" next to its field; a body
larger still is refused unread."""
FORM_OVERHEAD_BYTES: Final = 256 * 1024
"""What the text fields and the multipart framing of an upload form take at most."""


@dataclass(frozen=True)
class UploadedFile:
    """The file of an upload form: what the browser called it, its size, and its first ``limit + 1`` bytes at most
    (a larger file is counted, not kept)."""

    filename: str
    size: int
    content: bytes

    @property
    def chosen(self) -> bool:
        """Whether a file was chosen at all (a form's empty file field sends no name and no bytes)."""
        return bool(self.filename) or self.size > 0


@dataclass(frozen=True)
class UploadForm:
    fields: MultiDictProxy[str]
    file: UploadedFile | None
    multipart: bool


UPLOAD: Final = web.RequestKey("market_upload_form", UploadForm)


def market_upload(file_field: str, max_bytes_of: Callable[[web.Request], int], *roles: Role
                  ) -> Callable[[Handler], Handler]:
    """A POST page of the market in its path taking a form with a file in ``file_field`` (of up to
    ``max_bytes_of(request)`` bytes), for ``roles``; the form is at ``request[UPLOAD]``."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            principal = await session_principal(request)
            if principal is None:
                raise web.HTTPSeeOther(f"/signin?next={quote(_return_path(request))}")
            if roles and not principal.has_any(roles):
                return await error_page(request, 403)
            request[PRINCIPAL] = principal
            if not principal.has_market(site_of(request)):
                raise unknown_market()
            form = await upload_form(request, file_field, max_bytes_of(request))
            sent = form.fields.get(CSRF_FIELD, "")
            if not sent or not hmac.compare_digest(sent.encode(), csrf_token(request).encode()):
                log.info("form refused: csrf token", extra={"path": request.path})
                raise PageProblem(403, "表单已失效（可能停留过久或来自其他网站）。请返回上一页，刷新后重新提交。",
                                  title="表单已失效")
            request[UPLOAD] = form
            return await handler(request)

        return guarded

    return decorate


def _return_path(request: web.Request) -> str:
    """After signing in: the same-site page the form was on (a form post cannot be replayed)."""
    referrer = urlsplit(request.headers.get("Referer", ""))
    if referrer.netloc == request.host:
        return safe_next(referrer.path + (f"?{referrer.query}" if referrer.query else ""))
    return "/"


def too_large(max_bytes: int) -> PageProblem:
    return PageProblem(413, f"上传的文件太大：最大 {size_text(max_bytes)}。"
                            "请返回上一页，压缩照片或换一个较小的文件后重新提交。", title="文件太大")


async def upload_form(request: web.Request, file_field: str, max_bytes: int) -> UploadForm:
    """The submitted form: its text fields, and its file (in ``file_field``) when it is sent as multipart."""
    if not request.content_type.startswith("multipart/"):
        return UploadForm(await form_of(request), None, False)
    if (request.content_length or 0) > max_bytes * COUNTED_BEYOND + FORM_OVERHEAD_BYTES:
        raise too_large(max_bytes)
    try:
        reader = await request.multipart()
        return await _read_parts(reader, file_field, max_bytes)
    except (HttpProcessingError, ValueError, LookupError, AssertionError):  # malformed (aiohttp asserts on some)
        raise PageProblem(400, "表单内容无法识别，请返回上一页重新提交。") from None


async def _read_parts(reader: MultipartReader, file_field: str, max_bytes: int) -> UploadForm:
    fields: list[tuple[str, str]] = []
    file: UploadedFile | None = None
    text_bytes = 0
    for _ in range(MAX_PARTS):
        part = await reader.next()
        if part is None:
            return UploadForm(MultiDictProxy(MultiDict(fields)), file, True)
        if not isinstance(part, BodyPartReader) or not part.name:
            raise PageProblem(400, "表单内容无法识别，请返回上一页重新提交。")
        if part.filename is None:
            raw = await _read_bounded(part, MAX_FIELD_CHARS * 4)  # UTF-8: at most 4 bytes a character
            text_bytes += len(raw) if raw is not None else 0
            if raw is None or text_bytes > FORM_OVERHEAD_BYTES:
                raise PageProblem(400, "表单中有无法处理的内容（文件或过长的文本）。")
            fields.append((part.name, raw.decode("utf-8")))
        elif part.name == file_field and file is None:
            file = await _read_file(part, max_bytes)
        else:
            raise PageProblem(400, "表单中有无法处理的内容：一次只能上传一个文件。")
    raise PageProblem(400, "表单中的项目太多。")


async def _read_bounded(part: BodyPartReader, most: int) -> bytes | None:
    """A text part's bytes, or None when it holds more than ``most``."""
    content = bytearray()
    while chunk := await part.read_chunk(CHUNK_BYTES):
        content.extend(chunk)
        if len(content) > most:
            return None
    return bytes(content)


async def _read_file(part: BodyPartReader, max_bytes: int) -> UploadedFile:
    """The file part: up to ``max_bytes + 1`` bytes kept (one more tells it is too large), the rest counted up to
    :data:`COUNTED_BEYOND` times the limit."""
    kept = bytearray()
    size = 0
    while chunk := await part.read_chunk(CHUNK_BYTES):
        size += len(chunk)
        if len(kept) <= max_bytes:
            kept.extend(chunk[:max_bytes + 1 - len(kept)])
        if size > max_bytes * COUNTED_BEYOND:
            raise too_large(max_bytes)
    return UploadedFile(part.filename or "", size, bytes(kept))
