"""Shoppers' complaints: filed from the public pages (about a purchase, by its trace code, or a stall), each field
checked (a photo by its content and size, kept like a licence's scan), looked up by the complainant's reference,
listed and handled by the market's operators within the deadline, closed with an outcome the stall's page publishes
anonymised. A short-weight complaint about a purchase comes with the scale's record of that sale."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from market.complaints import (
    PHOTO_TYPES,
    Complaint,
    ComplaintAction,
    ComplaintCategory,
    ComplaintConclusion,
    ComplaintState,
    PublishedOutcome,
    TransitionRefusal,
    clean_text,
    deadline_of,
    new_reference,
    published,
    text_problem,
    transition,
)
from market.market_time import market_day
from market.refusals import FieldProblem
from market.scans import Scan, ScanProblem, scan_problem, sniffed_type
from market.service.errors import Conflict, FieldsRefused, NotFound
from market.service.lookup import existing_market
from market.service.settings import MarketSettings
from market.service.stall_screen import PUBLISHED_OUTCOMES
from market.storage import MarketRepository
from market.storage.scans import ScanFiles
from market.tracing import Sale

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class ComplaintForm:
    """A complaint as the shopper sends it: about a purchase (``trace_code``) or a stall, or both."""

    stall: str | None
    trace_code: str | None
    category: ComplaintCategory
    text: str
    photo: bytes | None = None


@dataclass(frozen=True)
class ComplaintDetail:
    """A complaint as the operator handles it; ``sale``: the scale's record of the purchase complained of (weight,
    price, amount), when the complaint names one."""

    complaint: Complaint
    sale: Sale | None


class Complaints:
    def __init__(self, engine: AsyncEngine, settings: MarketSettings) -> None:
        self._engine = engine
        self._settings = settings
        self._photos = ScanFiles(settings.complaint_dir) if settings.complaint_dir is not None else None

    def photo_problem(self, content: bytes) -> FieldProblem | None:
        """Why a file is not taken as a complaint's photo: none kept here, empty, too large, not a JPEG or PNG."""
        limit = self._settings.max_complaint_photo_bytes
        if self._photos is None:
            return FieldProblem("photo", "this installation keeps no photos", "本系统暂不接收照片")
        problem = scan_problem(len(content), content[:16], limit)
        if problem is None and sniffed_type(content[:16]) not in PHOTO_TYPES:
            problem = ScanProblem.UNKNOWN_TYPE
        if problem is ScanProblem.UNKNOWN_TYPE:
            return FieldProblem("photo", "a photo is a JPEG or PNG file (checked by its content)",
                                "只接受 JPEG 或 PNG 照片（按文件内容检查）")
        if problem is not None:
            return FieldProblem("photo", problem.message(limit), problem.message_zh(limit))
        return None

    async def file(self, site: str, form: ComplaintForm, now: datetime) -> Complaint:
        """File a complaint; :class:`FieldsRefused` with each field's reason (no stall or trace code, a trace code
        of no sale here, a stall that is not the purchase's, a text too short or long, a photo refused). Nothing is
        kept then, not even the photo."""
        problems: list[FieldProblem] = []
        if (found := text_problem(form.text)) is not None:
            problems.append(found)
        if form.photo is not None and (found := self.photo_problem(form.photo)) is not None:
            problems.append(found)
        if not form.stall and not form.trace_code:
            problems.append(FieldProblem("trace_code", "name the purchase (its trace code) or the stall",
                                         "请填写小票上的追溯码，或选择摊位"))
        kept: Scan | None = None
        try:
            async with self._engine.begin() as connection:
                repository = MarketRepository(connection)
                await existing_market(repository, site)
                stall = form.stall
                if form.trace_code:
                    sale = await repository.sale_by_trace_code(site, form.trace_code)
                    if sale is None:
                        problems.append(FieldProblem("trace_code", "no purchase at this market has this trace code",
                                                     "没有找到这个追溯码的购买记录，请核对小票"))
                    elif stall and stall != sale.stall:
                        problems.append(FieldProblem("stall", f"the purchase was made at stall {sale.stall}",
                                                     f"这笔购买是在 {sale.stall} 摊位"))
                    else:
                        stall = sale.stall
                if stall and not form.trace_code and await repository.stall(site, stall) is None:
                    problems.append(FieldProblem("stall", "no such stall at this market", "没有这个摊位"))
                if problems:
                    raise FieldsRefused(problems)
                assert stall is not None
                if form.photo is not None and self._photos is not None:
                    media_type = sniffed_type(form.photo[:16])
                    assert media_type is not None
                    kept = await self._photos.keep(site, form.photo, media_type)
                complaint = Complaint(new_reference(), stall, form.trace_code or None, form.category,
                                      clean_text(form.text), now, deadline_of(now, self._settings.complaint_days),
                                      photo=kept)
                complaint_id = await repository.add_complaint(site, complaint)
        except BaseException:
            if kept is not None and self._photos is not None:
                await self._photos.remove(site, kept)
            raise
        log.info("complaint filed", extra={"site": site, "complaint": complaint_id, "stall": stall,
                                           "category": form.category.value, "photo": kept is not None})
        return replace(complaint, complaint_id=complaint_id)

    async def by_reference(self, site: str, reference: str) -> Complaint:
        async with self._engine.connect() as connection:
            found = await MarketRepository(connection).complaint_by_reference(site, reference)
        if found is None:
            raise NotFound(f"no complaint {reference!r}")
        return found

    async def complaints(self, site: str, states: frozenset[ComplaintState] | None, limit: int, offset: int
                         ) -> list[Complaint]:
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            await existing_market(repository, site)
            return await repository.complaints(site, states, limit=limit, offset=offset)

    async def detail(self, site: str, complaint_id: int) -> ComplaintDetail:
        """A complaint with the scale's record of the purchase it names (for a short weight: what the scale
        weighed and charged)."""
        async with self._engine.connect() as connection:
            repository = MarketRepository(connection)
            complaint = await repository.complaint(site, complaint_id)
            if complaint is None:
                raise NotFound(f"no complaint {complaint_id} at market {site!r}")
            sale = (await repository.sale_by_trace_code(site, complaint.trace_code)
                    if complaint.trace_code else None)
        return ComplaintDetail(complaint, sale)

    async def act(self, site: str, complaint_id: int, action: ComplaintAction, outcome: str | None, by: str,
                  now: datetime, conclusion: ComplaintConclusion | None = None) -> Complaint:
        """The operator's step: start handling, resolve (upheld or not: ``conclusion``) or reject with the outcome
        to publish. 409 for a closed complaint (or one already being handled, to start), 422 for a close without an
        outcome, a resolve without a conclusion, a reject concluded upheld, or a conclusion when not closing."""
        async with self._engine.begin() as connection:
            repository = MarketRepository(connection)
            complaint = await repository.complaint(site, complaint_id)
            if complaint is None:
                raise NotFound(f"no complaint {complaint_id} at market {site!r}")
            after = transition(complaint, action, outcome, by, now, conclusion)
            if after is TransitionRefusal.CLOSED:
                raise Conflict(f"complaint {complaint_id} is {complaint.state.value} already")
            if after is TransitionRefusal.ALREADY_HANDLING:
                raise Conflict(f"complaint {complaint_id} is being handled already")
            if after is TransitionRefusal.NO_OUTCOME:
                raise FieldsRefused([FieldProblem("outcome", "say the outcome, to be published",
                                                  "请填写处理结果（将公示，请勿写入投诉人信息）")])
            if after is TransitionRefusal.OUTCOME_TOO_LONG:
                raise FieldsRefused([FieldProblem("outcome", "at most 500 characters", "处理结果最多 500 个字")])
            if isinstance(after, TransitionRefusal):
                raise FieldsRefused([_CONCLUSION_PROBLEMS[after]])
            if not await repository.move_complaint(site, complaint, after):
                raise Conflict(f"complaint {complaint_id} changed meanwhile: look again")
        log.info("complaint handled", extra={"site": site, "complaint": complaint_id, "action": action.value,
                                             "by": by})
        return after

    async def photo(self, site: str, complaint_id: int) -> tuple[Complaint, bytes]:
        detail = await self.detail(site, complaint_id)
        complaint = detail.complaint
        if complaint.photo is None or self._photos is None:
            raise NotFound(f"complaint {complaint_id} at market {site!r} has no photo")
        content = await self._photos.read(site, complaint.photo)
        if content is None:
            log.warning("complaint photo file missing", extra={"site": site, "complaint": complaint_id})
            raise NotFound(f"complaint {complaint_id} at market {site!r} has no photo")
        return complaint, content

    async def published_outcomes(self, site: str, stall: str) -> list[PublishedOutcome]:
        async with self._engine.connect() as connection:
            closed = await MarketRepository(connection).closed_complaints(site, stall, PUBLISHED_OUTCOMES)
        return [outcome for complaint in closed if (outcome := published(complaint, market_day)) is not None]


_CONCLUSION_PROBLEMS: Final = {
    TransitionRefusal.NO_CONCLUSION: FieldProblem(
        "conclusion", "say whether the complaint was upheld (upheld) or not (not_upheld)",
        "请选择核实结论：投诉属实（查实）或投诉不属实"),
    TransitionRefusal.REJECTED_UPHELD: FieldProblem(
        "conclusion", "a complaint found upheld is resolved, not rejected",
        "投诉属实的，请选择办结并写明处理结果，而不是不予支持"),
    TransitionRefusal.CONCLUSION_BEFORE_CLOSING: FieldProblem(
        "conclusion", "the conclusion is said when resolving or rejecting", "核实结论在办结或不予支持时填写"),
}
