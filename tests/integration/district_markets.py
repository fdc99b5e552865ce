"""Markets for the district view's tests (integration and browser): each with a stall that sold above its published
price and had a batch fail its rapid test, a vendor whose business licence expired, a batch held for the laboratory
and an overdue complaint."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Final

from devices.contract import Payment, ScaleRecord
from devices.topics import Channel, DeviceKind, parse_topic, topic_for
from market.complaints import ComplaintCategory
from market.licences import Document, DocumentKind, StallType
from market.rapid_tests import TypedTest
from market.service import ComplaintForm, MarketService, PriceItem
from market.stalls import Market, Stall, Vendor
from market.tracing import Batch, Certificate, CertificateType

NOW: Final = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
A, B, C = "xinfadi", "beiyuan", "nanhu"
NAMES: Final = {A: "新发地农贸市场", B: "北苑农贸市场", C: "南湖农贸市场"}
CODES: Final = {A: "A", B: "N", C: "S"}
"""What the ids of each market start with (its stalls ``A01``, ``A02``; its batches ``B-A1``, ``B-A2``)."""


async def seed(service: MarketService, site: str) -> None:
    """A market whose stall ``X01`` sold above its published price and had a batch fail its rapid test (recalled),
    whose vendor's business licence expired; whose stall ``X02`` has a batch held for the laboratory, and a
    complaint filed ten days ago (overdue)."""
    code = CODES[site]
    vendor, first, second = f"v-{code}", f"{code}01", f"{code}02"
    await service.create_market(Market(site, NAMES[site], "北京市", "12315"), NOW - timedelta(days=60))
    await service.add_vendor(site, Vendor(vendor, "王建国", None, "13800000000"), NOW)
    await service.add_document(site, vendor, Document(DocumentKind.BUSINESS_LICENCE, "91440300708461136T",
                                                      date(2020, 1, 1), date(2026, 11, 1)), "op", NOW)
    await service.add_document(site, vendor, Document(DocumentKind.FOOD_FILING, "YB11010600012345",
                                                      date(2024, 1, 1)), "op", NOW)
    await service.add_stall(site, Stall(first, "王记蔬菜", StallType.VEGETABLES, vendor), NOW - timedelta(days=30))
    await service.add_stall(site, Stall(second, "李家鲜菜", StallType.VEGETABLES, vendor), NOW - timedelta(days=30))
    await service.register_scale(site, f"scale-{code}", first, NOW)
    await service.publish_prices(site, first, [PriceItem("1001", "西红柿", 680)], None, "op", NOW - timedelta(hours=3))
    for stall, batch in ((first, f"B-{code}1"), (second, f"B-{code}2")):
        await service.receive_batch(site, Batch(batch, stall, "1001", "西红柿", "寿光蔬菜合作社", "370783",
                                                "山东省寿光市", 50_000,
                                                (Certificate(CertificateType.COMMITMENT, "CD-1"),),
                                                NOW - timedelta(hours=5)), "op", NOW)
    sale = ScaleRecord(record_id="r-1", ts=NOW - timedelta(minutes=90), stall=first, plu="1001", product="西红柿",
                       net_g=1000, unit_price_fen=720, amount_fen=720, trace_code=f"{site}-0001", batch=f"B-{code}1",
                       payment=Payment.WECHAT)
    await service.handle([(parse_topic(topic_for(site, DeviceKind.SCALE, f"scale-{code}", Channel.RECORD)), sale)])
    await service.record_test(site, TypedTest(f"B-{code}1", "organophosphate_carbamate", None, "72", "%", "刘*",
                                              NOW - timedelta(hours=1), seller_accepts=True), "op", NOW)
    await service.record_test(site, TypedTest(f"B-{code}2", "organophosphate_carbamate", None, "61", "%", "刘*",
                                              NOW - timedelta(hours=1)), "op", NOW)
    await service.file_complaint(site, ComplaintForm(second, None, ComplaintCategory.SHORT_WEIGHT, "称重少了二两",
                                                     None), NOW - timedelta(days=10))




FAILING_VENDOR: Final = "v-D"
"""Graded D by :func:`seed_failing_vendor`: three batches failed their rapid tests 40-45 days ago."""
SUCCESSOR: Final = "v-F"
"""Holds the stall the failing vendor handed over; graded A (their predecessor's record is not theirs)."""


async def seed_failing_vendor(service: MarketService, site: str) -> tuple[str, str]:
    """A vendor whose licences are in order and who has no problem of the last 30 days, but whose batches failed
    their rapid tests 40-45 days ago: two at the stall ``X03`` they hold, one at ``X04``, which they handed to
    another vendor 35 days ago. Returns the two stalls' codes."""
    code = CODES[site]
    held, handed = f"{code}03", f"{code}04"
    opened = NOW - timedelta(days=55)
    for vendor, name in ((FAILING_VENDOR, "赵国强"), (SUCCESSOR, "孙丽")):
        await service.add_vendor(site, Vendor(vendor, name, None, None), opened)
        await service.add_document(site, vendor, Document(DocumentKind.BUSINESS_LICENCE, "91440300708461136T",
                                                          date(2024, 1, 1), date(2030, 1, 1)), "op", opened)
        await service.add_document(site, vendor, Document(DocumentKind.FOOD_FILING, "YB11010600012345",
                                                          date(2024, 1, 1)), "op", opened)
    for stall, name in ((held, "赵记蔬菜"), (handed, "赵记菜摊")):
        await service.add_stall(site, Stall(stall, name, StallType.VEGETABLES, FAILING_VENDOR), opened)
    for number, (stall, days) in enumerate(((held, 45), (held, 44), (handed, 40)), 1):
        batch, tested = f"B-{code}D{number}", NOW - timedelta(days=days)
        await service.receive_batch(site, Batch(batch, stall, "1001", "西红柿", "寿光蔬菜合作社", "370783",
                                                "山东省寿光市", 20_000,
                                                (Certificate(CertificateType.COMMITMENT, "CD-1"),),
                                                tested - timedelta(hours=3)), "op", tested)
        await service.record_test(site, TypedTest(batch, "organophosphate_carbamate", None, "75", "%", "刘*", tested,
                                                  seller_accepts=True), "op", tested)
    await service.update_stall(site, Stall(handed, "孙家鲜蔬", StallType.VEGETABLES, SUCCESSOR),
                               NOW - timedelta(days=35))
    return held, handed
