"""The operator's pages of batches: the batches received (registering one, checked field by field:
:mod:`market.pages.batch_intake`);
one batch with its rapid tests (a failed one recalls it), its recall or release with each scale's
command, its forward trace and mass balance, a received quantity corrected, its corrections; the
batch's EPCIS document to download."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Final
from urllib.parse import quote

from aiohttp import web

from devices.scale_commands import BLOCK_BATCH, UNBLOCK_BATCH
from market.corrections import CorrectionKind, RecordedCorrection
from market.market_time import MARKET_TZ
from market.pages.batch_intake import (
    CERTIFICATE_ROWS,
    OFFERED_KINDS,
    TEST_ROWS,
    certificate_guide,
    preselected_tests,
    read_batch_form,
    refuse_intake,
    test_choices,
    test_guide,
)
from market.pages.context import (
    all_stalls,
    market_of,
    market_page,
    now_of,
    offset_of,
    operator_page,
    scales_of,
    service_of,
    site_of,
)
from market.pages.findings import FindingFact
from market.pages.form_fields import (
    ASCII_ID,
    InputProblem,
    grams_from_kilograms,
    local_input,
    moment_from_local,
    text_field,
)
from market.pages.wording import kilograms
from market.rapid_tests import (
    STANDARD_ITEMS,
    UNITS,
    LaboratoryResult,
    LaboratoryVerdict,
    TestOutcome,
    TypedTest,
)
from market.scale_delivery import Delivery
from market.service import Conflict, FieldsRefused, MarketService, NotFound, Refused, TestBeforeArrival, Unchanged
from market.tracing import (
    Batch,
    BlockCause,
    ProductCategory,
    Sale,
    default_category,
    standing_failures,
)
from market.web.schemas import RapidTestIn
from market.web.scope import OPERATORS, READERS
from webkit.auth import PRINCIPAL
from webkit.form_checks import FieldWords, FormState, checked, typed
from webkit.pages import PageProblem, form_of

BATCHES_PER_PAGE: Final = 50
SALES_PER_PAGE: Final = 50
CORRECTIONS_SHOWN: Final = 20
BLOCK_SCALES_MAX: Final = 50

@market_page(*READERS)
async def batches_page(request: web.Request) -> web.Response:
    """The batches; ``?stall=`` lists one stall's and chooses it in the form, ``?category=`` (else the stall's
    trade's) preselects the standard items of the form's rapid-test rows."""
    stall = request.query.get("stall", "").strip()[:32] or None
    category = _chosen_category(request)
    now = local_input(now_of(request))
    return await _batches_page(request, stall, FormState({
        "arrived_at": now, "stall": stall or "", "category": category.value if category else "",
        "test_tested_at": now, **preselected_tests(category or await _stall_category(request, stall))}))


def _chosen_category(request: web.Request) -> ProductCategory | None:
    chosen = request.query.get("category", "")
    return ProductCategory(chosen) if chosen in {c.value for c in ProductCategory} else None


async def _stall_category(request: web.Request, stall: str | None) -> ProductCategory | None:
    """The category of a batch of ``stall`` when its trade has one (none for a meat stall)."""
    if stall is None:
        return None
    found = [o.stall for o in await all_stalls(service_of(request), site_of(request), now_of(request))
             if o.stall.stall == stall]
    return default_category(found[0].stall_type) if found else None


async def _batches_page(request: web.Request, stall: str | None, form: FormState, status: int = 200
                        ) -> web.Response:
    service = service_of(request)
    market = await market_of(request)
    offset = offset_of(request)
    found = await service.batches(market.site, stall, BATCHES_PER_PAGE + 1, offset)
    stalls = await all_stalls(service, market.site, now_of(request))
    return await operator_page(request, "pages/batches.html", {
        "market": market, "batches": found[:BATCHES_PER_PAGE], "stall_filter": stall, "tab": "batches",
        "stalls": [o.stall for o in stalls], "form": form, "register_open": form.failed or "register" in request.query,
        "stall_options": [(o.stall.stall, f"{o.stall.stall} {o.stall.name}（{o.stall.stall_type.label_zh}）")
                          for o in stalls],
        "categories": [(c.value, c.label_zh) for c in ProductCategory],
        "certificate_kinds": [(k.value, k.label_zh) for k in OFFERED_KINDS], "certificate_rows": CERTIFICATE_ROWS,
        "certificate_guide": certificate_guide(), "divisions": service.settings.divisions,
        "test_rows": TEST_ROWS, "test_choices": test_choices(), "test_guide": test_guide(),
        "test_categories": [(c.value, c.label_zh) for c, rules in STANDARD_ITEMS.items() if rules],
        "offset": offset, "next_offset": offset + BATCHES_PER_PAGE if len(found) > BATCHES_PER_PAGE else None,
    }, status=status)


@market_page(*OPERATORS)
async def register_batch(request: web.Request) -> web.StreamResponse:
    """Register a batch; each refusal (an origin that is no division, a certificate that does not fit the product)
    next to its field, nothing recorded."""
    service = service_of(request)
    market = await market_of(request)
    now = now_of(request)
    stalls = {o.stall.stall: o.stall for o in await all_stalls(service, market.site, now)}
    intake = read_batch_form(await form_of(request), stalls, service.settings.divisions, now)
    batch, state = intake.batch, intake.state
    if batch is None:
        return await _batches_page(request, None, state, status=422)
    try:
        received = await service.receive_batch(market.site, batch, request[PRINCIPAL].subject, now, intake.tests)
    except Conflict:
        state.refuse("batch_id", f"批次号 {batch.batch_id} 已经登记过，请换一个批次号")
        return await _batches_page(request, None, state, status=409)
    except NotFound:
        state.refuse("stall", "没有这个摊位：请选择摊位")
        return await _batches_page(request, None, state, status=422)
    except FieldsRefused as refused:
        refuse_intake(state, refused.problems, test_rows=intake.test_rows)
        return await _batches_page(request, None, state, status=422)
    except Refused as refused:
        state.general.append(f"未被接受：{refused}")
        return await _batches_page(request, None, state, status=422)
    notice = "received_tested" if intake.tests else "received"
    if received.block is not None:
        notice = "received_suspected" if received.block.cause is BlockCause.SUSPECTED_TEST else "received_failed"
    raise web.HTTPSeeOther(f"/market/{market.site}/manage/batches/{quote(batch.batch_id)}?notice={notice}"
                           + ("#tests" if intake.tests else ""))


_BATCH_NOTICES: Final = {
    "received": ("success", "批次已登记。请录入快检结果。"),
    "received_tested": ("success", "批次已登记，入场快检结果已记录：阴性。"),
    "received_suspected": ("warning", "批次已登记；入场快检疑似阳性：批次已暂停销售（已向相关电子秤下发停售指令），"
                                      "等待实验室复检结果。"),
    "received_failed": ("warning", "批次已登记；入场快检不合格，批次已封控：已向相关电子秤下发停售指令。"),
    "tested": ("success", "快检结果已记录：阴性。"),
    "suspected": ("warning", "快检疑似阳性：批次已暂停销售（已向相关电子秤下发停售指令），等待实验室复检结果。"),
    "tested_blocked": ("warning", "快检结果已记录；该批次此前已封控，仍停止销售。"),
    "lab_released": ("success", "实验室复检合格：已解除暂停，已向相关电子秤下发恢复销售指令。"),
    "lab_passed": ("success", "实验室复检合格已记录；该批次仍有其他未了结的检测或召回，仍停止销售。"),
    "lab_failed": ("warning", "实验室复检不合格：批次保持封控，按召回处理。"),
    "recalled": ("warning", "批次已封控：已向相关电子秤下发停售指令，下方列出了该批次的全部销售。"),
    "failed_test": ("warning", "快检不合格，批次已自动封控：已向相关电子秤下发停售指令，下方列出了该批次的全部销售。"),
    "released": ("success", "已解除封控：已向相关电子秤下发恢复销售指令（unblock_batch）。"),
    "corrected": ("success", "进货量已更正，进销平衡已按新的进货量计算。"),
}


@market_page(*READERS)
async def batch_page(request: web.Request) -> web.Response:
    return await _batch_page(request)


async def _batch_page(request: web.Request, *, test_form: FormState | None = None,
                      lab_form: tuple[int, FormState] | None = None, stop_form: _StopForm | None = None,
                      quantity_values: dict[str, str] | None = None,
                      quantity_problems: Sequence[str] = (), status: int = 200) -> web.Response:
    service = service_of(request)
    site = site_of(request)
    batch_id = request.match_info["batch_id"]
    offset = offset_of(request)
    try:
        detail = await service.batch_detail(site, batch_id)
        trace = await service.forward_trace(site, batch_id, SALES_PER_PAGE, offset)
    except NotFound:
        raise PageProblem(404, f"没有批次 {batch_id}，链接可能有误。", title="批次不存在") from None
    blocks = await _block_deliveries(service, site, detail.batch, trace.sales, BLOCK_BATCH) \
        if detail.batch.block else []
    corrections = await service.corrections(site, (CorrectionKind.RELEASE_BATCH, CorrectionKind.CORRECT_QUANTITY),
                                            batch_id, CORRECTIONS_SHOWN, 0)
    releases = await _block_deliveries(service, site, detail.batch, trace.sales, UNBLOCK_BATCH) \
        if detail.batch.block is None and any(c.correction.kind is CorrectionKind.RELEASE_BATCH
                                               for c in corrections) else []
    notice = _BATCH_NOTICES.get(request.query.get("notice", ""))
    return await operator_page(request, "pages/batch.html", {
        "detail": detail, "batch": detail.batch, "trace": trace, "blocks": blocks, "notice": notice,
        "division": service.settings.divisions.get(detail.batch.origin_code),
        "tab": "batches", "offset": offset,
        "next_offset": offset + SALES_PER_PAGE if offset + len(trace.sales) < trace.sales_count else None,
        "sold_share": detail.balance.sold_share, "fill_share": min(detail.balance.sold_share, Fraction(1)),
        "test_form": test_form or FormState({"tested_at": local_input(now_of(request))}),
        "test_items": [(rule.item.value, f"{rule.item.label_zh}（{rule.method.label_zh}，判定值 {rule.cutoff_text}）")
                       for rule in (STANDARD_ITEMS[detail.batch.category] if detail.batch.category else ())],
        "units": [(unit, unit) for unit in UNITS],
        "lab_form": lab_form or (None, FormState()),
        "lab_form_blank": FormState({"reported_at": local_input(now_of(request))}),
        "recall_reason": "", "recall_problems": (), "release_reason": "",
        "release_problems": (), "releases": releases,
        **({f"{stop_form.action.form}_reason": stop_form.reason,
            f"{stop_form.action.form}_problems": stop_form.problems} if stop_form is not None else {}),
        "standing": standing_failures(detail.tests), "corrections": [(c, correction_facts(c)) for c in corrections],
        "quantity_values": quantity_values or {"quantity_kg": kilograms(detail.batch.quantity_g).replace(",", "")},
        "quantity_problems": quantity_problems,
    }, status=status)


async def _block_deliveries(service: MarketService, site: str, batch: Batch, sales: Sequence[Sale],
                            op: str) -> list[Delivery]:
    """The latest ``block_batch`` (or ``unblock_batch``) command of this batch to each scale of its stall
    and each that sold it."""
    scales = {s.registration.scale for s in await scales_of(service, site, batch.stall)}
    scales.update(sale.scale for sale in sales)
    found: list[Delivery] = []
    for scale in sorted(scales)[:BLOCK_SCALES_MAX]:
        for delivery in await service.deliveries(site, None, scale, 20, 0):
            if delivery.op == op and delivery.args.get("batch") == batch.batch_id:
                found.append(delivery)
                break
    return found


TEST_FIELDS: Final = ("item", "value", "unit", "tester", "tested_at")
TEST_WORDS: Final = FieldWords({"item": "检测项目", "method": "检测方法", "value": "检测值", "unit": "单位",
                                "tester": "检测人", "tested_at": "检测时间"})
LAB_FIELDS: Final = ("verdict", "laboratory", "report_number", "reported_at")


@market_page(*OPERATORS)
async def record_test(request: web.Request) -> web.StreamResponse:
    """Record a rapid test of a standard item: the value with its unit, judged by the item's cutoff; each refusal
    (an item that does not fit the product, a value without its unit or out of range) next to its field."""
    service = service_of(request)
    site = site_of(request)
    batch_id = request.match_info["batch_id"]
    now = now_of(request)
    form = await form_of(request)
    state = typed(form, TEST_FIELDS, codes=("value", "unit", "tested_at"))
    accepts = form.get("seller_accepts") == "yes"
    tested_at = now
    try:
        tested_at = moment_from_local(state.values["tested_at"]) or now
        if tested_at > now + timedelta(minutes=5):
            state.refuse("tested_at", "检测时间不能晚于现在")
    except InputProblem as problem:
        state.refuse("tested_at", str(problem))
    data = checked(RapidTestIn, state, TEST_WORDS, tested_at=tested_at, seller_accepts=accepts)
    if data is None or state.failed:
        return await _batch_page(request, test_form=state, status=422)
    test = TypedTest(batch_id, data.item.value, None, state.values["value"], data.unit, data.tester,
                     data.tested_at, accepts)
    try:
        recorded = await service.record_test(site, test, request[PRINCIPAL].subject, now)
    except NotFound:
        raise PageProblem(404, f"没有批次 {batch_id}，链接可能有误。", title="批次不存在") from None
    except FieldsRefused as refused:
        for refusal in refused.problems:
            state.refuse(refusal.field, refusal.message_zh)
        return await _batch_page(request, test_form=state, status=422)
    except TestBeforeArrival as early:
        arrived = early.arrived_at.astimezone(MARKET_TZ).strftime("%Y-%m-%d %H:%M")
        state.refuse("tested_at", f"检测时间不能早于该批次到货时间（{arrived}）")
        return await _batch_page(request, test_form=state, status=422)
    except Refused as refused:
        state.general.append(f"未被接受：{refused}")
        return await _batch_page(request, test_form=state, status=422)
    outcome = recorded.test.outcome
    notice = {TestOutcome.NEGATIVE: "tested", TestOutcome.SUSPECTED_POSITIVE: "suspected",
              TestOutcome.POSITIVE: "failed_test"}[outcome]
    if outcome is not TestOutcome.NEGATIVE and recorded.recall is None:
        notice = "tested_blocked"  # the batch was stopped already
    raise web.HTTPSeeOther(f"/market/{site}/manage/batches/{quote(batch_id)}?notice={notice}#"
                           + ("recall" if recorded.recall else "tests"))


@market_page(*OPERATORS)
async def record_laboratory(request: web.Request) -> web.StreamResponse:
    """The laboratory's result on a suspected positive: pass lets the batch go (when nothing else stands), fail
    keeps it stopped as a recall."""
    service = service_of(request)
    site = site_of(request)
    batch_id = request.match_info["batch_id"]
    test_id = request.match_info["test_id"]
    now = now_of(request)
    if not test_id.isdigit() or len(test_id) > 12:
        raise PageProblem(404, f"批次 {batch_id} 没有这条快检记录。", title="快检记录不存在")
    state = typed(await form_of(request), LAB_FIELDS, codes=("report_number", "reported_at"))
    try:
        verdict = LaboratoryVerdict(state.values["verdict"])
    except ValueError:
        state.refuse("verdict", "请选择复检结论")
        verdict = LaboratoryVerdict.PASS
    for name, label in (("laboratory", "检测机构"), ("report_number", "报告编号")):
        if not state.values[name]:
            state.refuse(name, f"请填写{label}")
        elif len(state.values[name]) > (100 if name == "laboratory" else 64):
            state.refuse(name, f"{label}太长")
    reported_at = now
    try:
        reported_at = moment_from_local(state.values["reported_at"]) or now
    except InputProblem as problem:
        state.refuse("reported_at", str(problem))
    if state.failed:
        return await _batch_page(request, lab_form=(int(test_id), state), status=422)
    result = LaboratoryResult(verdict, state.values["laboratory"], state.values["report_number"], reported_at,
                              request[PRINCIPAL].subject)
    try:
        outcome = await service.record_laboratory(site, batch_id, int(test_id), result, now)
    except NotFound:
        raise PageProblem(404, f"批次 {batch_id} 没有这条快检记录。", title="快检记录不存在") from None
    except Conflict:
        state.general.append("这条快检记录不是待复检的疑似阳性，或已录入复检结果。")
        return await _batch_page(request, lab_form=(int(test_id), state), status=409)
    except Refused:
        state.refuse("reported_at", "报告时间须在快检之后、现在之前")
        return await _batch_page(request, lab_form=(int(test_id), state), status=422)
    notice = "lab_failed" if verdict is LaboratoryVerdict.FAIL else (
        "lab_released" if outcome.deliveries or outcome.batch.block is None else "lab_passed")
    raise web.HTTPSeeOther(f"/market/{site}/manage/batches/{quote(batch_id)}?notice={notice}#tests")


@dataclass(frozen=True)
class _StopForm:
    """A recall or release form shown again: what was typed and why it was not taken."""

    action: _BatchStop
    reason: str
    problems: Sequence[str]


@dataclass(frozen=True)
class _BatchStop:
    """How the batch page words one of its two confirmed actions on a batch: recall it, or release it."""

    form: str  # the form's name on the batch page: its reason and problems are shown there
    reason_label: str
    confirm_problem: str
    conflict_problem: str
    notice: str


RECALL = _BatchStop("recall", "召回原因", confirm_problem="请勾选确认：封控后该批次将停止销售，且不能撤销。",
                    conflict_problem="该批次已经封控过了。", notice="recalled")
RELEASE = _BatchStop("release", "解除原因", confirm_problem="请勾选确认：解除后各电子秤将恢复销售该批次。",
                     conflict_problem="该批次没有封控，无需解除。", notice="released")
StopAction = Callable[[str, str, str, str, datetime], Awaitable[object]]
"""The service's recall or release: (site, batch id, reason, by whom, now)."""


@market_page(*OPERATORS)
async def recall_batch(request: web.Request) -> web.StreamResponse:
    return await _stop_or_release(request, RECALL, service_of(request).recall)


@market_page(*OPERATORS)
async def release_batch(request: web.Request) -> web.StreamResponse:
    """Lift the block: refused with a message while a failed rapid test stands."""
    return await _stop_or_release(request, RELEASE, service_of(request).release)


async def _stop_or_release(request: web.Request, action: _BatchStop, carry_out: StopAction) -> web.StreamResponse:
    site = site_of(request)
    batch_id = request.match_info["batch_id"]
    form = await form_of(request)
    reason = form.get("reason", "").strip()[:400]
    problems: list[str] = []
    try:
        text_field(reason, action.reason_label, 200)
    except InputProblem as problem:
        problems.append(str(problem))
    if form.get("confirm") != "yes":
        problems.append(action.confirm_problem)

    async def again(shown: list[str], status: int) -> web.StreamResponse:
        return await _batch_page(request, stop_form=_StopForm(action, reason, shown), status=status)

    if problems:
        return await again(problems, 422)
    try:
        await carry_out(site, batch_id, reason, request[PRINCIPAL].subject, now_of(request))
    except NotFound:
        raise PageProblem(404, f"没有批次 {batch_id}，链接可能有误。", title="批次不存在") from None
    except Conflict:
        return await again([action.conflict_problem], 409)
    except Refused as refused:
        return await again([f"未被接受：{refused}"], 422)
    raise web.HTTPSeeOther(f"/market/{site}/manage/batches/{quote(batch_id)}?notice={action.notice}#recall")


@market_page(*OPERATORS)
async def correct_quantity(request: web.Request) -> web.StreamResponse:
    service = service_of(request)
    site = site_of(request)
    batch_id = request.match_info["batch_id"]
    form = await form_of(request)
    values = {"quantity_kg": form.get("quantity_kg", "").strip()[:40], "reason": form.get("reason", "").strip()[:400]}
    problems: list[str] = []
    grams = 0
    try:
        grams = grams_from_kilograms(values["quantity_kg"])
    except InputProblem as problem:
        problems.append(f"进货量：{problem}")
    try:
        text_field(values["reason"], "更正原因", 200)
    except InputProblem as problem:
        problems.append(str(problem))
    if problems:
        return await _batch_page(request, quantity_values=values, quantity_problems=problems, status=422)
    try:
        await service.correct_quantity(site, batch_id, grams, values["reason"], request[PRINCIPAL].subject,
                                       now_of(request))
    except NotFound:
        raise PageProblem(404, f"没有批次 {batch_id}，链接可能有误。", title="批次不存在") from None
    except (Conflict, Refused) as refused:
        shown = "进货量与原登记相同，无需更正。" if isinstance(refused, Unchanged) else f"未被接受：{refused}"
        return await _batch_page(request, quantity_values=values, quantity_problems=[shown],
                                 status=409 if isinstance(refused, Conflict) else 422)
    raise web.HTTPSeeOther(f"/market/{site}/manage/batches/{quote(batch_id)}?notice=corrected#balance")


_CORRECTION_LABELS: Final = {
    "blocked_at": "原封控时间", "block_reason": "原封控原因", "blocked_by": "原封控人", "block_cause": "封控方式",
    "scales": "通知电子秤", "before_g": "原进货量", "after_g": "更正为", "sold_g": "已售",
    "vendor_id": "经营者", "kind": "证照", "number": "证号",
}


def correction_facts(recorded: RecordedCorrection) -> list[FindingFact]:
    """A correction's before/after values in words and units for the operator."""
    facts = []
    for key, value in recorded.correction.detail.items():
        if value is None:
            continue
        if key in ("before_g", "after_g", "sold_g") and isinstance(value, int):
            shown = kilograms(value) + " 公斤"
        elif key == "blocked_at" and isinstance(value, str):
            shown = _local_iso(value)
        elif key == "block_cause":
            shown = "快检不合格自动封控" if value == "failed_test" else "管理方召回"
        else:
            shown = str(value)
        facts.append(FindingFact(_CORRECTION_LABELS.get(key, key), shown))
    return facts


def _local_iso(text: str) -> str:
    try:
        return datetime.fromisoformat(text).astimezone(MARKET_TZ).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return text


@market_page(*READERS)
async def batch_epcis(request: web.Request) -> web.Response:
    """The batch's history as a GS1 EPCIS 2.0 document, for the operator to download."""
    service = service_of(request)
    site = site_of(request)
    batch_id = request.match_info["batch_id"]
    base = (service.settings.public_base_url or str(request.url.origin())).rstrip("/")
    try:
        document = await service.batch_epcis(site, batch_id, f"{base}/market/{site}", now_of(request))
    except NotFound:
        raise PageProblem(404, f"没有批次 {batch_id}，链接可能有误。", title="批次不存在") from None
    except Refused as refused:
        raise PageProblem(422, f"无法导出：{refused}") from None
    filename = f"epcis-{batch_id}.jsonld" if ASCII_ID.fullmatch(batch_id) else "epcis.jsonld"
    return web.json_response(document, content_type="application/ld+json",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})
