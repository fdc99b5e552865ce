"""The operator's forms of a vendor's licence documents: recording one with its scan or photo, and keeping a scan
for a document recorded without one (or in place of an unreadable one); and the kept scan, read back by the
market's operators and supervisor only.

A document is checked by the API's model (:class:`market.web.schemas.DocumentIn`) and then by the domain's own
rules (:func:`market.licences.document_problems`: a credit code's authority, type, organisation code and check
character, a permit's JY number, scope and end, an identity number's check character, a holder where the document
names a person), each reason next to its field. The file is taken by what it is (JPEG, PNG
or PDF by its first bytes, not its name), not empty, not over SC_MARKET_MAX_SCAN_BYTES; a refused form records
nothing and keeps no file."""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from aiohttp import web

from market.licences import Document, document_problems, printed_number
from market.pages.context import market_page, now_of, service_of, site_of, unknown_vendor, vendor_of
from market.pages.uploads import UPLOAD, UploadForm, market_upload
from market.pages.vendors import vendor_page_with
from market.scans import ScanProblem
from market.service import Conflict, NotFound, Refused, ScanRefused
from market.web.scans import scan_response
from market.web.schemas import DocumentIn
from market.web.scope import OPERATORS, READERS
from webkit.auth import PRINCIPAL
from webkit.form_checks import FieldWords, FormState, checked, typed
from webkit.pages import PageProblem

SCAN_FIELD: Final = "scan"
DOCUMENT_FIELDS: Final = ("kind", "number", "valid_from", "valid_to", "holder", "scope")
DOCUMENT_WORDS: Final = FieldWords(
    {"kind": "证照类型", "number": "证照编号", "valid_from": "生效日期", "valid_to": "有效期至", "holder": "持证人",
     "scope": "经营项目"})


def _max_scan_bytes(request: web.Request) -> int:
    return service_of(request).settings.max_scan_bytes


def _document_id(request: web.Request) -> int:
    raw = request.match_info["document_id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
        raise PageProblem(404, "没有这份证照。", title="证照不存在")
    return int(raw)


@market_upload(SCAN_FIELD, _max_scan_bytes, *OPERATORS)
async def add_document(request: web.Request) -> web.StreamResponse:
    """Record a document of the vendor's with its scan, then back to the vendor's page."""
    service = service_of(request)
    site = site_of(request)
    vendor = await vendor_of(request)
    form = request[UPLOAD]
    state = typed(form.fields, DOCUMENT_FIELDS, codes=("number", "valid_from", "valid_to"))
    data = checked(DocumentIn, state, DOCUMENT_WORDS)
    document = _document(data, state) if data is not None else None
    status = _scan_checked(request, form, state)
    if document is None or state.failed:
        return await vendor_page_with(request, document=state, status=status)
    content = form.file.content if form.file is not None else b""
    try:
        document_id = await service.add_document(site, vendor.vendor_id, document, request[PRINCIPAL].subject,
                                                 now_of(request), scan=content)
    except NotFound:
        raise unknown_vendor() from None
    except ScanRefused as refused:
        state.refuse(SCAN_FIELD, refused.problem.message_zh(refused.max_bytes))
        return await vendor_page_with(request, document=state, status=422)
    except Refused as refused:
        state.general.append(f"未被接受：{refused}")
        return await vendor_page_with(request, document=state, status=422)
    raise web.HTTPSeeOther(f"/market/{site}/manage/vendors/{quote(vendor.vendor_id, safe='')}?notice=document"
                           f"#document-{document_id}")


def _scan_checked(request: web.Request, form: UploadForm, state: FormState) -> int:
    """What is wrong with the form's file, recorded in ``state``; the status to answer with when anything is."""
    if not form.multipart:
        state.refuse(SCAN_FIELD, "没有收到文件：表单须以 multipart/form-data 提交，请用本页的表单选择扫描件后提交")
        return 415
    if form.file is None or not form.file.chosen:
        state.refuse(SCAN_FIELD, "请选择证照的扫描件或照片（JPEG、PNG 或 PDF）")
        return 422
    try:
        service_of(request).checked_scan(form.file.content)
    except ScanRefused as refused:
        state.refuse(SCAN_FIELD, refused.problem.message_zh(refused.max_bytes))
        return 413 if refused.problem is ScanProblem.TOO_LARGE else 415 \
            if refused.problem is ScanProblem.UNKNOWN_TYPE else 422
    except Refused as refused:  # no scan folder configured
        state.refuse(SCAN_FIELD, f"无法存档扫描件：{refused}")
    return 422


def _document(data: DocumentIn, state: FormState) -> Document | None:
    """The document the form describes, by the domain's rules; each broken one said at its field."""
    number = printed_number(data.kind, data.number)
    for problem in document_problems(data.kind, number, data.valid_from, data.valid_to, data.holder, data.scope):
        state.refuse(problem.field, problem.message_zh)
    if state.problems:
        return None
    try:
        return Document(data.kind, number, data.valid_from, data.valid_to, data.holder, data.scope)
    except ValueError as invalid:  # the domain's word is final: a rule the page did not word is still kept
        state.refuse("number", f"未被接受：{invalid}")
        return None


@market_upload(SCAN_FIELD, _max_scan_bytes, *OPERATORS)
async def keep_scan(request: web.Request) -> web.StreamResponse:
    """Keep a scan for a recorded document (in place of the one it had)."""
    service = service_of(request)
    site = site_of(request)
    vendor = await vendor_of(request)
    document_id = _document_id(request)
    form = request[UPLOAD]
    state = FormState()
    status = _scan_checked(request, form, state)
    if state.failed or form.file is None:
        return await vendor_page_with(request, scan_failed=document_id, scan_problem=state.problems.get(SCAN_FIELD),
                                      status=status)
    try:
        await service.keep_scan(site, vendor.vendor_id, document_id, form.file.content, request[PRINCIPAL].subject)
    except NotFound:
        raise PageProblem(404, "没有这份证照。", title="证照不存在") from None
    except Conflict:
        return await vendor_page_with(request, scan_failed=document_id, status=409,
                                      scan_problem="这份证照已作废，不再存档扫描件：请登记正确的证照并上传其扫描件。")
    except Refused as refused:
        return await vendor_page_with(request, scan_failed=document_id, scan_problem=f"未被接受：{refused}",
                                      status=422)
    raise web.HTTPSeeOther(f"/market/{site}/manage/vendors/{quote(vendor.vendor_id, safe='')}?notice=scan"
                           f"#document-{document_id}")


@market_page(*READERS)
async def document_scan(request: web.Request) -> web.StreamResponse:
    """A document's kept scan, as a private download (never cached, never public)."""
    document_id = _document_id(request)
    try:
        recorded, content = await service_of(request).document_scan(site_of(request),
                                                                    request.match_info["vendor_id"], document_id)
    except NotFound:
        raise PageProblem(404, "这份证照没有存档的扫描件。", title="没有扫描件") from None
    return scan_response(recorded, content)
