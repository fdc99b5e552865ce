"""The demo markets matching the simulated scales, so that ``smartcity run`` shows live markets: the first at the
installation's site id, and a smaller second one, 北市场, at ``f"{site}-north"`` (:func:`seed_north_demo_market`),
so that an installation serving several markets, each to its own operators, can be seen.

``TrafficGenerator.market_roster(now)`` (devices/simulator/) says which stall each simulated scale
stands at (its code starts with the zone letter: A vegetables, B meat, C aquatic, D fruit, E eggs and
soy), what it sells at which board price, and which batch id it prints on each product. For each stall
the demo adds a vendor with the documents the law asks of what the stall sells (a few deliberately
expiring, expired or missing, so the operator's list has something on it; every sixth produce stall a
farmer selling their own produce, identified by their village committee's certificate and identity card
instead of a licence), the stall with its staff roster, its scales, the board prices as published prices
(so the scales' sales match them before and after the push), and those batches, each with the
certificates its product needs (pork its quarantine and meat quality certificates, produce a commitment
certificate, tofu a test report...) and an origin of the GB/T 2260 list, with a passing rapid test.

The first market asks more than the law (:data:`DEMO_POLICY`: every stall's staff with health certificates),
the second the law alone: the two show the difference.

Idempotent: what exists is left as it is and what is missing is added, so it may run at every start
(the simulator's stalls change with its seed) and again each day (the batch ids carry the day).

The second market's roster comes from a simulator of its own (:func:`north_demo_generator`: its site, a few
scales, another seed). Whether its scales are registered is the caller's to say (``with_scales``): only when that
simulator runs against the broker too, else they would be sent prices they never acknowledge and the operator's
pages would show them as waiting forever. Without them the market has its vendors, documents, stalls, published
prices and batches (the price board and the operator's pages work), and no sales.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Final

from devices.simulator import SimulatedItem, SimulatedStall, StallZone, TrafficGenerator
from market.identity_numbers import (
    CREDIT_CODE_ALPHABET,
    credit_code_check_character,
    id_number_check_character,
    organisation_code_check_character,
)
from market.licences import (
    Document,
    DocumentKind,
    LicencePolicy,
    Offering,
    Requirement,
    StaffMember,
    StallType,
    required_documents,
)
from market.market_time import MARKET_TZ, market_day
from market.rapid_tests import STANDARD_ITEMS, TypedTest
from market.service import Conflict, MarketService, PriceItem
from market.stalls import Market, Stall, Vendor
from market.tracing import Batch, Certificate, CertificateType, ProductCategory

OPERATOR: Final = "demo-seed"
MARKET_NAME: Final = "智慧农贸市场（演示）"
MARKET_ADDRESS: Final = "演示路 1 号"
NORTH_SUFFIX: Final = "-north"
NORTH_NAME: Final = "北市场（演示）"
NORTH_ADDRESS: Final = "演示路北段 88 号"
NORTH_SCALES: Final = 3
"""The second market is the smaller one: a stall or three."""
NORTH_SEED_OFFSET: Final = 1
"""Its simulator's seed is the first one's plus this: other stalls, other goods, the same every start."""
BATCH_GRAMS: Final = 2_000_000  # generous: the simulator sells far faster than a real stall
BATCH_DAY: Final = re.compile(r"B(\d{8})-")  # the simulator's batch ids start with the arrival day
DEMO_POLICY: Final = LicencePolicy(health_certificate_every_stall=True)
"""The first demo market's own rule: everyone working at a stall holds a health certificate."""


@dataclass(frozen=True)
class _Zone:
    stall_type: StallType
    offerings: frozenset[Offering]
    label: str
    origin_code: str
    origin_name: str
    supplier: str
    category: ProductCategory


_PRODUCE: Final = frozenset({Offering.FARM_PRODUCE})
_ZONES: Final = {
    StallZone.VEGETABLES: _Zone(StallType.VEGETABLES, _PRODUCE, "蔬菜", "370783", "山东省寿光市", "寿光蔬菜产业合作社",
                                ProductCategory.VEGETABLES),
    StallZone.MEAT: _Zone(StallType.MEAT, _PRODUCE, "肉铺", "371300", "山东省临沂市", "临沂金锣肉制品有限公司",
                          ProductCategory.PORK),
    StallZone.AQUATIC: _Zone(StallType.AQUATIC, _PRODUCE, "水产", "421083", "湖北省洪湖市", "洪湖水产养殖专业合作社",
                             ProductCategory.AQUATIC),
    StallZone.FRUIT: _Zone(StallType.FRUIT, _PRODUCE, "水果", "610500", "陕西省渭南市", "渭南果业合作社",
                           ProductCategory.FRUIT),
    # eggs and bean sprouts are farm produce, tofu and yuba bulk food: the stall sells both
    StallZone.EGGS_AND_SOY: _Zone(StallType.SOY_PRODUCTS, frozenset({Offering.FARM_PRODUCE, Offering.BULK_FOOD}),
                                  "蛋品豆制品", "130100", "河北省石家庄市", "石家庄豆制品有限公司",
                                  ProductCategory.SOY_PRODUCTS),
}
_CATEGORY_OF_PLU: Final = {
    "2001": ProductCategory.PORK, "2002": ProductCategory.PORK,
    "2003": ProductCategory.LIVESTOCK_MEAT, "2004": ProductCategory.LIVESTOCK_MEAT,
    "2005": ProductCategory.POULTRY, "2006": ProductCategory.POULTRY,
    "5001": ProductCategory.EGGS, "5002": ProductCategory.EGGS, "5004": ProductCategory.VEGETABLES,
}
"""Products of a zone that are not of the zone's category (the simulator's catalogue: devices/simulator)."""
_CERTIFICATES: Final = {
    ProductCategory.PORK: (CertificateType.QUARANTINE, CertificateType.MEAT_QUALITY),
    ProductCategory.LIVESTOCK_MEAT: (CertificateType.QUARANTINE,),
    ProductCategory.POULTRY: (CertificateType.QUARANTINE,),
    ProductCategory.SOY_PRODUCTS: (CertificateType.TEST_REPORT,),
}
"""What each batch comes with, by the rules of market.tracing.CERTIFICATE_RULES; produce: a commitment certificate."""
_FAMILY_NAMES: Final = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_GIVEN_NAMES: Final = ("建国", "秀英", "桂兰", "志强", "海燕", "明华", "春梅", "国庆", "丽娟", "德明")
_FARMER_CASE: Final = 4
"""The case of the stalls whose vendor is a farmer selling their own produce (produce stalls only)."""


def _zone(stall: str) -> StallZone:
    try:
        return StallZone(stall[:1])
    except ValueError:
        return StallZone.VEGETABLES


def _pick(key: str, salt: str, modulo: int) -> int:
    """A number below ``modulo`` that a stall's ``key`` (its market's site and its code) and ``salt`` always give."""
    return int.from_bytes(hashlib.sha256(f"{salt}:{key}".encode()).digest()[:4], "big") % modulo


def _credit_code(key: str, region: str) -> str:
    """A well-formed code of an individual business (个体工商户, ``92``) registered in ``region``, with its
    organisation code's check character (GB 11714) and its own (GB 32100)."""
    body = "".join(CREDIT_CODE_ALPHABET[_pick(key, f"code{i}", len(CREDIT_CODE_ALPHABET))] for i in range(8))
    first_17 = f"92{region}{body}{organisation_code_check_character(body)}"
    return first_17 + credit_code_check_character(first_17)


def _id_number(key: str, region: str) -> str:
    """A well-formed identity number (GB 11643) of someone born in ``region`` in the 1960s."""
    born = date(1960, 1, 1) + timedelta(days=_pick(key, "born", 3650))
    first_17 = f"{region}{born:%Y%m%d}{_pick(key, 'seq', 1000):03d}"
    return first_17 + id_number_check_character(first_17)


def _farmer(key: str, zone: _Zone) -> bool:
    return zone.offerings == _PRODUCE and _pick(key, "case", 6) == _FARMER_CASE


def _staff(key: str, zone: _Zone, holder: str) -> list[StaffMember]:
    """The vendor, and at every few stalls a helper; handling ready-to-eat food where the stall sells it."""
    handles = Offering.READY_TO_EAT in zone.offerings
    helper = [StaffMember(_name(key, "helper"), handles)] if _pick(key, "case", 6) == 3 else []
    return [StaffMember(holder, handles), *helper]


def _documents(key: str, zone: _Zone, holder: str, now: datetime) -> list[Document]:
    """What the law asks of the stall (a farmer's identity instead of a licence), a health certificate of each of its
    staff; every few stalls something the operator must chase."""
    today = market_day(now)
    region = zone.origin_code
    case = _pick(key, "case", 6)
    documents = []
    for required in required_documents(zone.offerings, self_producing=_farmer(key, zone)):
        if required.requirement is Requirement.FARMER_IDENTITY:
            number = f"自产证字〔{today:%Y}〕{_pick(key, 'vc', 1000)}号"
            documents.append(Document(DocumentKind.VILLAGE_CERTIFICATE, number, today - timedelta(days=60),
                                      today + timedelta(days=300), holder=holder))
            documents.append(Document(DocumentKind.RESIDENT_ID, _id_number(key, region), today - timedelta(days=2000),
                                      today + timedelta(days=1600), holder=holder))
        elif required.requirement is Requirement.BUSINESS_LICENCE:
            documents.append(Document(DocumentKind.BUSINESS_LICENCE, _credit_code(key, region),
                                      today - timedelta(days=900)))
        elif required.requirement is Requirement.FOOD_BUSINESS_PERMIT and case != _FARMER_CASE:
            # case 4 at a stall selling bulk food: the permit was never handed in
            documents.append(Document(DocumentKind.FOOD_BUSINESS_PERMIT,
                                      f"JY1{region}{_pick(key, 'jy', 10**7):07d}", today - timedelta(days=700),
                                      today + timedelta(days=1100), scope="散装食品销售"))
    health_until = today + timedelta(days=5 if case == 1 else 200)
    documents.append(Document(DocumentKind.HEALTH_CERTIFICATE, f"JK{today:%Y}{_pick(key, 'jk', 10**6):06d}",
                              health_until - timedelta(days=364), health_until, holder=holder))
    if case == 3:  # a helper whose certificate lapsed last month
        lapsed = today - timedelta(days=20)
        documents.append(Document(DocumentKind.HEALTH_CERTIFICATE, f"JK{today:%Y}{_pick(key, 'jk2', 10**6):06d}",
                                  lapsed - timedelta(days=364), lapsed, holder=_name(key, "helper")))
    return documents


def _name(key: str, salt: str) -> str:
    return _FAMILY_NAMES[_pick(key, salt + "f", len(_FAMILY_NAMES))] + _GIVEN_NAMES[
        _pick(key, salt + "g", len(_GIVEN_NAMES))]


async def seed_demo_market(service: MarketService, site: str, now: datetime, roster: Iterable[SimulatedStall], *,
                           name: str = MARKET_NAME, address: str = MARKET_ADDRESS, with_scales: bool = True,
                           policy: LicencePolicy = DEMO_POLICY) -> None:
    """Create or complete the demo market ``name`` at ``site`` for the simulated scales of ``roster``: their
    stalls, with the scales registered at them unless ``with_scales`` is False (no simulator drives them); a market
    created here asks ``policy`` of its stalls."""
    await _ignoring_conflict(service.create_market(Market(site, name, address, "12315", policy), now))
    scales: dict[str, list[str]] = {}
    items: dict[str, dict[str, SimulatedItem]] = {}
    for entry in roster:
        scales.setdefault(entry.stall, []).append(entry.scale_id)
        for item in entry.items:
            items.setdefault(entry.stall, {}).setdefault(item.plu, item)
    for stall in sorted(scales):
        await _seed_stall(service, site, stall, sorted(scales[stall]) if with_scales else [],
                          list(items.get(stall, {}).values()), now)


def north_site(site: str) -> str:
    """The second demo market's site id beside the installation's ``site``."""
    return f"{site}{NORTH_SUFFIX}"


def north_demo_generator(site: str, seed: int) -> TrafficGenerator:
    """The simulated scales of the second demo market beside the installation's ``site`` (whose simulator has
    ``seed``): its roster says what :func:`seed_north_demo_market` seeds, day by day."""
    return TrafficGenerator(north_site(site), gates=0, scales=NORTH_SCALES, seed=seed + NORTH_SEED_OFFSET)


async def seed_north_demo_market(service: MarketService, site: str, now: datetime, roster: Iterable[SimulatedStall],
                                 *, with_scales: bool = False) -> None:
    """Create or complete 北市场, the second demo market, at :func:`north_site` of ``site``, for ``roster`` (of
    :func:`north_demo_generator`); its scales registered only ``with_scales`` (a simulator drives them)."""
    await seed_demo_market(service, north_site(site), now, roster, name=NORTH_NAME, address=NORTH_ADDRESS,
                           with_scales=with_scales, policy=LicencePolicy())


async def _seed_stall(service: MarketService, site: str, stall: str, scales: list[str], items: list[SimulatedItem],
                      now: datetime) -> None:
    zone = _ZONES[_zone(stall)]
    vendor_id = f"v-{stall}"
    key = f"{site}/{stall}"  # the stall's people and papers differ from market to market (a code may be in both)
    holder = _name(key, "vendor")
    vendor = Vendor(vendor_id, holder, None, None, self_producing=_farmer(key, zone))
    added = await _ignoring_conflict(service.add_vendor(site, vendor, now))
    if added:
        for document in _documents(key, zone, holder, now):
            await service.add_document(site, vendor_id, document, OPERATOR, now)
    name = f"{holder[0]}记{zone.label}" + ("（自产自销）" if vendor.self_producing else "")
    if await _ignoring_conflict(service.add_stall(site, Stall(stall, name, zone.stall_type, vendor_id,
                                                              zone.offerings), now)):
        await service.set_staff(site, stall, _staff(key, zone, holder), OPERATOR, now)
    if items and not await service.price_history(site, stall, None, 1, 0):
        await service.publish_prices(site, stall, [PriceItem(i.plu, i.product, i.price_fen_per_kg) for i in items],
                                     None, OPERATOR, now)
    for scale in scales:
        await service.register_scale(site, scale, stall, now)
    for item in items:
        arrived = _arrival(item.batch, now)
        category = _CATEGORY_OF_PLU.get(item.plu, zone.category)
        certificates = tuple(Certificate(kind, f"{kind.value[:2].upper()}{arrived:%Y%m%d}{item.plu}")
                             for kind in _CERTIFICATES.get(category, (CertificateType.COMMITMENT,)))
        batch = Batch(item.batch, stall, item.plu, item.product, zone.supplier, zone.origin_code, zone.origin_name,
                      BATCH_GRAMS, certificates, arrived, category=category)
        if await _ignoring_conflict(service.receive_batch(site, batch, OPERATOR, now)):
            for test in _intake_tests(item.batch, category, arrived):
                await service.record_test(site, test, OPERATOR, now)


def _intake_tests(batch_id: str, category: ProductCategory, arrived: datetime) -> list[TypedTest]:
    """The market's rapid tests of a batch: each standard item of its category (pesticides by enzyme inhibition for
    produce, the β-agonists for pork, malachite green for fish, enrofloxacin for chicken and eggs...), negative: a
    reading between a tenth and a half of the cutoff."""
    return [TypedTest(batch_id, rule.item.value, rule.method.value,
                      (rule.cutoff * (10 + _pick(f"{batch_id}/{rule.item}", "reading", 40)) / 100).quantize(
                          Decimal("0.01")), rule.unit, "市场快检室", arrived)
            for rule in STANDARD_ITEMS[category]]


def _arrival(batch_id: str, now: datetime) -> datetime:
    """05:00 of the day the batch id names (today if it names none), and not after ``now``."""
    named = BATCH_DAY.match(batch_id)
    day = date(int(named[1][:4]), int(named[1][4:6]), int(named[1][6:])) if named else market_day(now)
    return min(now, datetime.combine(day, time(5, 0), MARKET_TZ))


async def _ignoring_conflict(call: Awaitable[object]) -> bool:
    """Run the use case; False if what it adds is there already."""
    try:
        await call
    except Conflict:
        return False
    return True
