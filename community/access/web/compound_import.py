"""Importing a compound from a spreadsheet (``community.onboarding``): the dry run or the import, and the templates.

``POST /api/access/communities/{id}/import?dry_run=true|false`` takes the file as the request body (``text/csv``,
the XLSX type, or anything else, told apart by its content), as the ``file`` field of a multipart form, or as JSON
(``{"rows": [{"building_id": ..., ...}]}``, keyed by the columns' English keys). ``dry_run`` is true unless said
otherwise: a client that forgets it writes nothing. The answer is the report, row by row: 200 for a dry run or an
import that wrote, 422 when anything is refused (then nothing was written) or the file is no compound sheet at all.
The body limit of the installation (SC_HTTP_MAX_BODY_BYTES) bounds the upload.

Scope first: a community outside the caller's scope is answered as an unknown one (404) before the body is read.
Property managers and administrators only — the file holds residents' phones and cards; supervisors never.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from community.access.web.handling import _body, _community_id, _json, _principal, _service
from community.access.web.schemas import _In
from community.onboarding.columns import COLUMNS, MAX_ROWS, MAX_UNITS
from community.onboarding.plan import Outcome
from community.onboarding.service import CompoundImport, ImportReport
from community.onboarding.sheet import CompoundSheet, Problem
from community.onboarding.spreadsheet import CSV_TYPE, XLSX_TYPE, read_records, read_upload, template_csv, template_xlsx
from webkit.json_errors import json_error

CellIn = StrictStr | StrictInt | StrictFloat | StrictBool | None
UPLOAD_FIELD = "file"
TEMPLATE_NAME = "compound-import-template"


class AccessCompoundImportIn(_In):
    rows: Annotated[list[dict[str, CellIn]], Field(
        description=f"One object per spreadsheet row, keyed by the columns' English keys "
                    f"({', '.join(column.key for column in COLUMNS)}); at most {MAX_ROWS} rows and {MAX_UNITS} units "
                    "(more are refused like a file that long). The same import takes a CSV or XLSX file as the "
                    "request body or as the `file` field of a multipart form: see docs/compound-import.md")]


class AccessImportProblemOut(BaseModel):
    row: int | None = Field(description="The spreadsheet's row (the header is row 1); null: the file as a whole")
    code: str = Field(description="A stable code of the reason (docs/compound-import.md lists them)")
    message: str = Field(description="The reason, in Chinese, for the property office")


class AccessImportRowOut(BaseModel):
    row: int
    outcome: Literal["created", "changed", "unchanged", "refused"]
    notes: list[str] = Field(description="What the row creates or changes (phones masked, cards by their last four)")
    problems: list[AccessImportProblemOut]


class AccessImportTotalsOut(BaseModel):
    buildings_created: int
    buildings_changed: int
    units_created: int
    units_changed: int
    residents_created: int
    residents_changed: int
    cards_created: int
    ownership_recorded: int


class AccessImportSummaryOut(BaseModel):
    created: int
    changed: int
    unchanged: int
    refused: int


class AccessImportOut(BaseModel):
    community_id: str
    dry_run: bool
    applied: bool = Field(description="Whether it was written: never for a dry run, never with a refusal")
    summary: AccessImportSummaryOut = Field(description="Rows by outcome")
    totals: AccessImportTotalsOut = Field(description="What is (or would be) created and changed")
    problems: list[AccessImportProblemOut] = Field(description="Every refusal, the file's own and the rows'")
    rows: list[AccessImportRowOut]


def _problem_out(problem: Problem) -> AccessImportProblemOut:
    return AccessImportProblemOut(row=problem.row, code=problem.code, message=problem.message)


def report_out(report: ImportReport) -> AccessImportOut:
    totals = report.totals
    return AccessImportOut(
        community_id=report.community_id, dry_run=report.dry_run, applied=report.applied,
        summary=AccessImportSummaryOut(**{outcome.value: report.count(outcome) for outcome in Outcome}),
        totals=AccessImportTotalsOut(**{name: getattr(totals, name) for name in AccessImportTotalsOut.model_fields}),
        problems=[_problem_out(problem) for problem in report.problems],
        rows=[AccessImportRowOut(row=row.row, outcome=row.outcome.value, notes=list(row.notes),
                                 problems=[_problem_out(problem) for problem in row.problems])
              for row in report.rows])


def _dry_run(request: web.Request) -> bool:
    raw = request.query.get("dry_run", "true").strip().lower()
    if raw in ("true", "1", "yes", ""):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise json_error(web.HTTPBadRequest, "query parameter 'dry_run' is true or false", field="dry_run")


async def _sheet(request: web.Request) -> CompoundSheet:
    """The sheet the request carries: JSON rows, a multipart form's file, or the body itself — checked in a worker
    thread, so that reading a large workbook (seconds) does not hold up the gates' feed and the other requests."""
    if request.content_type == "application/json":
        data: AccessCompoundImportIn = await _body(request, AccessCompoundImportIn)
        return await asyncio.to_thread(read_records, data.rows)
    if request.content_type == "multipart/form-data":
        return await asyncio.to_thread(read_upload, await _multipart_file(request))
    return await asyncio.to_thread(read_upload, await request.read())


async def _multipart_file(request: web.Request) -> bytes:
    """The form's ``file`` field (else its first file); aiohttp reads the form to at most the body limit."""
    form = await request.post()
    files = [value for name, value in form.items() if isinstance(value, web.FileField) and name == UPLOAD_FIELD]
    files += [value for value in form.values() if isinstance(value, web.FileField)]
    if not files:
        raise json_error(web.HTTPBadRequest, f"the form has no file: send the spreadsheet as its {UPLOAD_FIELD!r} "
                                             "field", field=UPLOAD_FIELD)
    return files[0].file.read()


async def import_compound(request: web.Request) -> web.Response:
    community_id = await _community_id(request)  # scope and existence before the body is read
    dry_run = _dry_run(request)
    sheet = await _sheet(request)
    report = await CompoundImport(_service(request)).run(community_id, sheet, _principal(request).subject,
                                                         dry_run=dry_run)
    return _json(report_out(report), 422 if report.refused and (not dry_run or not report.rows) else 200)


def _download(body: bytes, content_type: str, suffix: str) -> web.Response:
    return web.Response(body=body, content_type=content_type, headers={
        "Content-Disposition": f'attachment; filename="{TEMPLATE_NAME}.{suffix}"', "Cache-Control": "no-store"})


async def csv_template(request: web.Request) -> web.Response:
    await _community_id(request)
    return _download(template_csv(), CSV_TYPE, "csv")


async def xlsx_template(request: web.Request) -> web.Response:
    await _community_id(request)
    return _download(template_xlsx(), XLSX_TYPE, "xlsx")
