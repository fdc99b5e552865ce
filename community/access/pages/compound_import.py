"""Importing a compound from a spreadsheet, in the manager's console: upload a CSV or XLSX file, read the dry run —
every row created, changed, unchanged or refused, with the reason — then confirm, and the same file is imported, all
of it or nothing (``community.onboarding``). The templates are downloaded from here too.

Between the dry run and the confirmation the file waits in memory (:class:`UploadShelf`), keyed by its SHA-256 and
kept for its uploader and community only, for half an hour at most, a few files at a time: it holds residents'
phones and card numbers, which are never written to disk outside the registers. The confirmation names the file by
its hash and is planned again against the registers as they are then; a file gone from the shelf (expired, or the
service restarted) is asked for again, clearly.

The upload's form carries a file, which webkit's page forms refuse by design (``form_of`` takes bounded text fields
only), so the upload checks the session, the role and the CSRF token itself, as ``webkit.pages.page`` does for the
other forms; the form is read by aiohttp within the installation's body limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, unquote

from aiohttp import web

from community.access.pages.context import CONSOLE, MANAGERS, _now, _pages, _render
from community.access.pages.scope import Scope, _scope
from community.onboarding.columns import COLUMNS, MAX_ROWS, MAX_UNITS
from community.onboarding.plan import Outcome, RowReport
from community.onboarding.service import CompoundImport, ImportReport
from community.onboarding.spreadsheet import CSV_TYPE, XLSX_TYPE, read_upload, template_csv, template_xlsx
from webkit.auth import PRINCIPAL
from webkit.identity import Principal
from webkit.pages import CSRF_FIELD, PageProblem, csrf_token, form_of, page, session_principal

IMPORT = CONSOLE + "/import"
UPLOAD_FIELD = "file"
ROWS_SHOWN = 500
"""Report rows drawn on the page, refused first: the counts cover the rest (the API's report has every row)."""

OUTCOME_WORDS = {Outcome.CREATED: ("新建", "ok"), Outcome.CHANGED: ("变更", "warn"),
                 Outcome.UNCHANGED: ("无变化", ""), Outcome.REFUSED: ("拒绝", "bad")}


@dataclass
class _Kept:
    data: bytes
    kept_at: datetime


class UploadShelf:
    """Uploaded files between a dry run and its confirmation: in memory, at most ``max_files`` and ``max_bytes``
    together (the oldest go first), each for ``keep`` at most, each for its uploader and community only."""

    def __init__(self, max_files: int = 8, max_bytes: int = 64 * 1024 * 1024,
                 keep: timedelta = timedelta(minutes=30)) -> None:
        self._files: OrderedDict[tuple[str, str, str], _Kept] = OrderedDict()
        self._max_files, self._max_bytes, self._keep = max_files, max_bytes, keep

    def put(self, owner: str, community_id: str, data: bytes, now: datetime) -> str:
        """Keep the file; returns its name here (its SHA-256, hex)."""
        digest = hashlib.sha256(data).hexdigest()
        self._files.pop((owner, community_id, digest), None)
        self._files[(owner, community_id, digest)] = _Kept(data, now)
        self._expire(now)
        while len(self._files) > self._max_files or sum(len(kept.data) for kept in self._files.values()) > \
                self._max_bytes:
            self._files.popitem(last=False)
        return digest

    def get(self, owner: str, community_id: str, digest: str, now: datetime) -> bytes | None:
        self._expire(now)
        kept = self._files.get((owner, community_id, digest))
        return None if kept is None else kept.data

    def drop(self, owner: str, community_id: str, digest: str) -> None:
        self._files.pop((owner, community_id, digest), None)

    def _expire(self, now: datetime) -> None:
        for key in [key for key, kept in self._files.items() if now - kept.kept_at > self._keep]:
            del self._files[key]


SHELF = web.AppKey("compound_upload_shelf", UploadShelf)


@dataclass(frozen=True)
class ReportView:
    """A report as the page draws it: the rows to show (at most :data:`ROWS_SHOWN`), how many are not, counts."""

    report: ImportReport
    shown: tuple[RowReport, ...]
    hidden: int

    @property
    def counts(self) -> dict[Outcome, int]:
        return {outcome: self.report.count(outcome) for outcome in Outcome}


def report_view(report: ImportReport) -> ReportView:
    """Refused rows first, then changed and created ones; unchanged rows are counted, not listed."""
    order = {Outcome.REFUSED: 0, Outcome.CHANGED: 1, Outcome.CREATED: 2}
    rows = sorted((row for row in report.rows if row.outcome in order), key=lambda row: (order[row.outcome], row.row))
    shown = tuple(rows[:ROWS_SHOWN])
    return ReportView(report, shown, len(report.rows) - len(shown))


async def _render_import(request: web.Request, scope: Scope, *, problems: Sequence[str] = (),
                         view: ReportView | None = None, upload: str | None = None, file_name: str = "",
                         status: int = 200) -> web.Response:
    return await _render(request, "access/import.html", {
        "scope": scope, "problems": problems, "view": view, "upload": upload, "file_name": file_name,
        "columns": COLUMNS, "max_rows": MAX_ROWS, "max_units": MAX_UNITS, "outcome_words": OUTCOME_WORDS,
        "outcomes": Outcome, "import_path": IMPORT,
    }, tabs=scope.tabs(IMPORT), status=status)


@page(*MANAGERS)
async def import_page(request: web.Request) -> web.Response:
    return await _render_import(request, await _scope(request))


async def _uploader(request: web.Request) -> Principal:
    """The signed-in manager who sent a form with a file and this session's CSRF token (as ``page`` checks the
    other forms): to sign-in without a session, the 403 page without the role or with a bad token."""
    principal = await session_principal(request)
    if principal is None:
        raise web.HTTPSeeOther(f"/signin?next={quote(IMPORT)}")
    if not principal.has_any(MANAGERS):
        raise PageProblem(403, "您的账号没有权限访问这个页面。")
    request[PRINCIPAL] = principal
    return principal


async def _checked_form(request: web.Request) -> tuple[dict[str, str], tuple[str, bytes] | None]:
    """The form's text fields and its file (name, content), once its CSRF token is this session's."""
    try:
        form = await request.post()
    except ValueError:
        raise PageProblem(400, "表单无法读取，请返回上一页重试。") from None
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    sent, expected = fields.get(CSRF_FIELD, ""), csrf_token(request)
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise PageProblem(403, "表单已失效（可能停留过久或来自其他网站）。请返回上一页，刷新后重新提交。",
                          title="表单已失效")
    upload = form.get(UPLOAD_FIELD)
    if isinstance(upload, web.FileField):
        # shown only: some clients percent-encode a name that is not ASCII (aiohttp's does; browsers send UTF-8)
        return fields, (unquote(upload.filename or "")[:100], upload.file.read())
    return fields, None


async def upload_form(request: web.Request) -> web.StreamResponse:
    """The upload: a dry run of the file, its report, and — when the file changes something and nothing is refused —
    the confirmation that imports it."""
    principal = await _uploader(request)
    fields, upload = await _checked_form(request)
    scope = await _scope(request, fields.get("community") or None)
    if upload is None or not upload[1]:
        return await _render_import(request, scope, problems=["请选择要导入的 CSV 或 Excel（.xlsx）文件。"], status=422)
    name, data = upload
    community_id = scope.community.community_id
    sheet = await asyncio.to_thread(read_upload, data)  # seconds for a large workbook: not on the event loop
    report = await CompoundImport(_pages(request).service).run(community_id, sheet, principal.subject, dry_run=True)
    digest = None
    if not report.refused and report.count(Outcome.CREATED) + report.count(Outcome.CHANGED):
        digest = request.app[SHELF].put(principal.subject, community_id, data, _now(request))
    return await _render_import(request, scope, view=report_view(report), upload=digest, file_name=name,
                                status=422 if report.refused else 200)


@page(*MANAGERS)
async def confirm_import(request: web.Request) -> web.Response:
    """The confirmation: the file the dry run showed, imported — or, if the registers changed meanwhile and now
    refuse a row, the new report and nothing written."""
    form = await form_of(request)
    scope = await _scope(request, form.get("community") or None)
    subject, community_id = request[PRINCIPAL].subject, scope.community.community_id
    digest = form.get("upload", "")
    shelf = request.app[SHELF]
    data = shelf.get(subject, community_id, digest, _now(request)) if digest else None
    if data is None:
        return await _render_import(request, scope, problems=[
            "上传的文件已过期（预览后 30 分钟内有效，服务重启后需重新上传），请重新选择文件并预览。"], status=410)
    sheet = await asyncio.to_thread(read_upload, data)
    report = await CompoundImport(_pages(request).service).run(community_id, sheet, subject, dry_run=False)
    if report.applied:
        shelf.drop(subject, community_id, digest)
    return await _render_import(request, scope, view=report_view(report), file_name=form.get("file_name", ""),
                                status=200 if report.applied else 422)


def _download(body: bytes, content_type: str, suffix: str) -> web.Response:
    return web.Response(body=body, content_type=content_type, headers={
        "Content-Disposition": f'attachment; filename="compound-import-template.{suffix}"',
        "Cache-Control": "no-store"})


@page(*MANAGERS)
async def csv_template_page(request: web.Request) -> web.Response:
    await _scope(request)  # the same for every community, but only from a console the account may open
    return _download(template_csv(), CSV_TYPE, "csv")


@page(*MANAGERS)
async def xlsx_template_page(request: web.Request) -> web.Response:
    await _scope(request)
    return _download(template_xlsx(), XLSX_TYPE, "xlsx")
