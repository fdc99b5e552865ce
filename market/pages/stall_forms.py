"""The operator's forms of stalls and scales: adding a stall (code, name, type, what it sells, vendor), changing one
(name, type, what it sells, vendor: a new name or vendor begins a new tenure, so earlier sales keep theirs), the
stall's staff roster (who works there, who handles ready-to-eat food), the market's own licence policy, and
registering a scale at a stall (it is sent the stall's prices at once; a scale standing at another stall is moved).
Each is checked by the API's own model (:class:`StallIn`, :class:`StallChangeIn`, :class:`StaffRosterIn`,
:class:`LicencePolicyIn`, :class:`ScaleIn`), each reason next to its field."""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from aiohttp import web
from multidict import MultiDictProxy

from market.licences import MAX_STAFF, LicencePolicy, Offering, StaffMember, StallType, offerings_text
from market.pages.context import (
    DIRECTORY_SCAN,
    all_vendors,
    display_of,
    market_page,
    now_of,
    operator_page,
    service_of,
    site_of,
)
from market.pages.form_fields import InputProblem, text_field
from market.pages.stalls import ROSTER_SPARE_ROWS, roster_form, stall_page_with, stalls_page_with
from market.service import Conflict, NotFound, Refused, StallDisplay, Unchanged
from market.stalls import Stall
from market.web.schemas import LicencePolicyIn, ScaleIn, StallChangeIn, StallIn
from market.web.scope import OPERATORS
from webkit.auth import PRINCIPAL
from webkit.form_checks import FieldWords, FormState, checked, typed
from webkit.pages import PageProblem, form_of

STALL_FIELDS: Final = ("stall", "name", "stall_type", "vendor_id")
STALL_WORDS: Final = FieldWords(
    {"stall": "摊位编号", "name": "摊位名称", "stall_type": "经营类别", "vendor_id": "经营者"},
    {"stall": "摊位编号为 1–32 位字母、数字、汉字或 _ . : -，与电子秤上报的摊位编号一致", "vendor_id": "请选择经营者"})
OFFERINGS_FIELD: Final = "offerings"
POLICY_WORDS: Final = FieldWords({"reason": "更改原因"})
SCALE_WORDS: Final = FieldWords({"scale_id": "电子秤编号"},
                                {"scale_id": "电子秤编号为 1–64 位字母、数字、_ 或 -（设备编号，见秤的铭牌或配置）"})


def _offerings(form: MultiDictProxy[str], state: FormState) -> list[Offering] | None:
    """What the stall sells as ticked (None: nothing ticked, the type's), kept in ``state`` to show again."""
    ticked = form.getall(OFFERINGS_FIELD, [])
    known = [offering for offering in Offering if offering.value in ticked]
    if len(known) < len(set(ticked)):
        state.refuse(OFFERINGS_FIELD, "请从列出的经营品类中选择")
    state.values[OFFERINGS_FIELD] = offerings_text(known)
    return known or None


@market_page(*OPERATORS)
async def add_stall(request: web.Request) -> web.StreamResponse:
    """Add a stall, then on to its page to register its scales."""
    site = site_of(request)
    form = await form_of(request)
    state = typed(form, STALL_FIELDS, codes=("stall",))
    data = checked(StallIn, state, STALL_WORDS, offerings=_offerings(form, state))
    if data is None or state.failed:
        return await stalls_page_with(request, state, status=422)
    try:
        await service_of(request).add_stall(site, Stall(data.stall, data.name, data.stall_type, data.vendor_id,
                                                        frozenset(data.offerings or ())), now_of(request))
    except Conflict:
        state.refuse("stall", f"摊位 {data.stall} 已经登记过，请换一个编号（修改已有摊位请到该摊位的页面）")
        return await stalls_page_with(request, state, status=409)
    except Refused:
        state.refuse("vendor_id", "没有这个经营者：请先登记经营者")
        return await stalls_page_with(request, state, status=422)
    except ValueError as invalid:  # the domain's rule on the code (the schema's is wider: \\w)
        state.refuse("stall", f"未被接受：{invalid}")
        return await stalls_page_with(request, state, status=422)
    raise web.HTTPSeeOther(f"/market/{site}/manage/stalls/{quote(data.stall, safe='')}?notice=added")


@market_page(*OPERATORS)
async def edit_stall_page(request: web.Request) -> web.Response:
    display = await display_of(request, request.match_info["stall"])
    stall = display.stall
    return await _edit_form(request, display, FormState({"name": stall.name, "stall_type": stall.stall_type.value,
                                                         "vendor_id": stall.vendor_id or "",
                                                         OFFERINGS_FIELD: offerings_text(stall.offerings)}))


async def _edit_form(request: web.Request, display: StallDisplay, state: FormState, status: int = 200
                     ) -> web.Response:
    return await operator_page(request, "pages/stall_edit.html", {
        "market": display.market, "d": display, "tab": "stalls", "form": state,
        "stall_types": [(kind.value, kind.label_zh) for kind in StallType],
        "offerings": [(offering.value, offering.label_zh) for offering in Offering],
        "vendors": [(v.vendor_id, f"{v.name}（{v.vendor_id}）")
                    for v, _ in await all_vendors(service_of(request), display.market.site)],
    }, status=status)


@market_page(*OPERATORS)
async def edit_stall(request: web.Request) -> web.StreamResponse:
    """Change a stall's name, type or vendor."""
    site = site_of(request)
    display = await display_of(request, request.match_info["stall"])
    form = await form_of(request)
    state = typed(form, STALL_FIELDS[1:])
    data = checked(StallChangeIn, state, STALL_WORDS, offerings=_offerings(form, state))
    if data is None or state.failed:
        return await _edit_form(request, display, state, status=422)
    code = display.stall.stall
    try:
        await service_of(request).update_stall(site, Stall(code, data.name, data.stall_type, data.vendor_id,
                                                           frozenset(data.offerings or ())), now_of(request))
    except NotFound:
        return await _edit_form(request, display, state, status=404)
    except Refused:
        state.refuse("vendor_id", "没有这个经营者：请先登记经营者")
        return await _edit_form(request, display, state, status=422)
    raise web.HTTPSeeOther(f"/market/{site}/manage/stalls/{quote(code, safe='')}?notice=changed")


@market_page(*OPERATORS)
async def register_scale(request: web.Request) -> web.StreamResponse:
    """Register a scale at the stall (moving it when it stood at another); it is sent the stall's prices."""
    service = service_of(request)
    site = site_of(request)
    display = await display_of(request, request.match_info["stall"])
    code = display.stall.stall
    state = typed(await form_of(request), ("scale_id", "move"), codes=("scale_id",))
    data = checked(ScaleIn, state, SCALE_WORDS, stall=code)
    if data is None:
        return await stall_page_with(request, scale=state, status=422)
    standing = {s.registration.scale: s.registration.stall for s in await service.scales(site, DIRECTORY_SCAN, 0)}
    if standing.get(data.scale_id) == code:
        state.refuse("scale_id", f"电子秤 {data.scale_id} 已登记在本摊位")
        return await stall_page_with(request, scale=state, status=409)
    if data.scale_id in standing and state.values.get("move") != "yes":
        state.refuse("scale_id", f"电子秤 {data.scale_id} 登记在摊位 {standing[data.scale_id]}："
                                 "确认移到本摊位请勾选下方“移到本摊位”")
        state.values["moving"] = standing[data.scale_id]
        return await stall_page_with(request, scale=state, status=409)
    try:
        await service.register_scale(site, data.scale_id, code, now_of(request))
    except NotFound:
        return await stall_page_with(request, scale=state, status=404)
    except Refused as refused:
        state.general.append(f"未被接受：{refused}")
        return await stall_page_with(request, scale=state, status=422)
    raise web.HTTPSeeOther(f"/market/{site}/manage/stalls/{quote(code, safe='')}?notice=scale"
                           f"#scale-{quote(data.scale_id, safe='')}")


@market_page(*OPERATORS)
async def set_staff(request: web.Request) -> web.StreamResponse:
    """The stall's roster, whole: a name cleared leaves the roster, a name typed in a blank row joins it."""
    display = await display_of(request, request.match_info["stall"])
    code = display.stall.stall
    form = await form_of(request)
    raw_rows = form.get("rows", "")
    if not (raw_rows.isascii() and raw_rows.isdigit()) or not 0 < int(raw_rows) <= MAX_STAFF + ROSTER_SPARE_ROWS:
        state = roster_form(display)
        state.general.append("表单不完整，请在本页修改从业人员名单后再保存")
        return await stall_page_with(request, roster=state, status=422)
    names = tuple(f"staff_name_{row}" for row in range(int(raw_rows)))
    ticks = tuple(f"staff_rte_{row}" for row in range(int(raw_rows)))
    state = typed(form, ("rows", *names, *ticks))
    staff: list[StaffMember] = []
    for name_field, tick_field in zip(names, ticks, strict=True):
        try:
            name = text_field(state.values[name_field], "姓名", 64, required=False)
        except InputProblem as problem:
            state.refuse(name_field, str(problem))
            continue
        if not name:
            continue
        if any(member.name == name for member in staff):
            state.refuse(name_field, f"{name} 已在名单中")
            continue
        staff.append(StaffMember(name, state.values[tick_field] == "yes"))
    if len(staff) > MAX_STAFF:
        state.general.append(f"一个摊位最多登记 {MAX_STAFF} 名从业人员")
    if state.failed:
        return await stall_page_with(request, roster=state, status=422)
    try:
        await service_of(request).set_staff(site_of(request), code, staff, request[PRINCIPAL].subject,
                                            now_of(request))
    except NotFound:
        raise PageProblem(404, f"本市场没有摊位 {code}，链接可能有误。", title="摊位不存在") from None
    except Refused as refused:
        state.general.append(f"未被接受：{refused}")
        return await stall_page_with(request, roster=state, status=422)
    raise web.HTTPSeeOther(f"/market/{site_of(request)}/manage/stalls/{quote(code, safe='')}?notice=staff#staff")


@market_page(*OPERATORS)
async def set_licence_policy(request: web.Request) -> web.StreamResponse:
    """The market's own licence rules beyond the law, with the reason for the change (audited)."""
    site = site_of(request)
    form = await form_of(request)
    state = typed(form, ("reason", "health_certificate_every_stall", "licence_for_farmers"))
    data = checked(LicencePolicyIn, state, POLICY_WORDS,
                   health_certificate_every_stall=state.values["health_certificate_every_stall"] == "yes",
                   licence_for_farmers=state.values["licence_for_farmers"] == "yes")
    if data is None:
        return await stalls_page_with(request, policy=state, status=422)
    policy = LicencePolicy(data.health_certificate_every_stall, data.licence_for_farmers)
    try:
        await service_of(request).set_licence_policy(site, policy, data.reason, request[PRINCIPAL].subject,
                                                     now_of(request))
    except Unchanged:
        state.general.append("与本市场现行规定相同，无需更改")
        return await stalls_page_with(request, policy=state, status=422)
    except Refused as refused:
        state.general.append(f"未被接受：{refused}")
        return await stalls_page_with(request, policy=state, status=422)
    raise web.HTTPSeeOther(f"/market/{site}/manage?notice=policy#policy")
