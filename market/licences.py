"""Licences shown at a stall (亮证经营): which documents a stall needs by what it sells, as the law has it, and
whether those it has are valid.

What a stall needs follows from what it sells (:class:`Offering`), not from the name of its trade:

* edible farm produce only (食用农产品): a business licence; no food business permit and no filing (Food Safety
  Law Art. 35: selling 食用农产品 needs neither), no health certificate (Art. 45 asks it of those handling
  ready-to-eat food);
* pre-packaged food only (仅销售预包装食品): a business licence and the filing record 备案凭证 (Art. 35);
* bulk food (散装食品): a business licence and a food business permit 食品经营许可证 (Art. 35);
* ready-to-eat food (直接入口食品): the permit, and a health certificate 健康证明 of every person on the stall's
  staff roster who handles it (Art. 45);
* a farmer selling their own farm produce (自产自销): no business licence (《无证无照经营查处办法》 Art. 3),
  identified instead by their resident identity card or their village committee's certificate.

A market may ask more of its stalls (:class:`LicencePolicy`, stored per market): every stall's staff with health
certificates, or a business licence of farmers too. Each requirement carries its basis (:class:`LegalBasis`): the
law and article, or the market's own rule. :data:`RULES` is the table the docs print.

A document is valid from ``valid_from`` through ``valid_to`` inclusive, in market days (Asia/Shanghai): a licence
"有效期至 2026年11月23日" is still good on the 23rd and expired on the 24th. ``valid_to`` None is a long-term
document (长期). Nothing here reads a clock: callers pass the market day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Final

from market.identity_numbers import credit_code_problem, id_number_problem, normalised_code
from market.refusals import FieldProblem
from market.scans import Scan

FOOD_PERMIT_NUMBER: Final = re.compile(r"JY\d{14}")
DEFAULT_WARNING_DAYS: Final = (30, 7, 0)
MAX_STAFF: Final = 50
"""People on one stall's roster at most: a stall, not a factory."""
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class LegalBasis:
    """Why a document is required: the law (or the market's own rule) and its article, and what it says."""

    law: str
    article: str
    says: str

    @property
    def citation(self) -> str:
        return f"{self.law}{self.article}"


FOOD_SAFETY_LAW_ART_35: Final = LegalBasis(
    "《中华人民共和国食品安全法》", "第三十五条第一款",
    "Selling food needs a food business permit; selling edible farm produce or only pre-packaged food needs none, "
    "and selling only pre-packaged food is filed with the county food safety authority instead.")
FOOD_SAFETY_LAW_ART_45: Final = LegalBasis(
    "《中华人民共和国食品安全法》", "第四十五条第二款",
    "Whoever handles ready-to-eat food (接触直接入口食品) has a yearly health check and a health certificate before "
    "working.")
MARKET_ENTITY_REGISTRATION_ART_3: Final = LegalBasis(
    "《中华人民共和国市场主体登记管理条例》", "第三条",
    "A market entity registers (and holds a business licence) before doing business, unless a law or "
    "regulation exempts it.")
UNLICENSED_BUSINESS_ART_3: Final = LegalBasis(
    "《无证无照经营查处办法》", "第三条第（一）项",
    "Selling farm and sideline products (农副产品) at a place and time the local government designates is no "
    "unlicensed business: a farmer selling their own produce needs no business licence; the market identifies "
    "them by their identity card or their village committee's certificate.")
MARKET_RULE: Final = LegalBasis("本市场规定", "", "The market's own rule, stricter than the law.")


class Offering(StrEnum):
    """What a stall sells, as the Food Safety Law tells the kinds apart."""

    FARM_PRODUCE = "farm_produce"
    PREPACKAGED_FOOD = "prepackaged_food"
    BULK_FOOD = "bulk_food"
    READY_TO_EAT = "ready_to_eat"

    @property
    def label_zh(self) -> str:
        return {
            Offering.FARM_PRODUCE: "食用农产品",
            Offering.PREPACKAGED_FOOD: "预包装食品",
            Offering.BULK_FOOD: "散装食品",
            Offering.READY_TO_EAT: "直接入口食品（熟食等）",
        }[self]


class StallType(StrEnum):
    """The stall's trade: what it is called, which batches it receives, and what it sells unless told otherwise."""

    VEGETABLES = "vegetables"
    FRUIT = "fruit"
    MEAT = "meat"
    AQUATIC = "aquatic"
    EGGS = "eggs"
    SOY_PRODUCTS = "soy_products"
    COOKED_FOOD = "cooked_food"
    PREPARED_FOOD = "prepared_food"
    PREPACKAGED_FOOD = "prepackaged_food"

    @property
    def label_zh(self) -> str:
        return _STALL_TYPE_ZH[self]

    @property
    def default_offerings(self) -> frozenset[Offering]:
        """What a stall of this trade sells: farm produce for the produce trades, bulk food for soy products and
        prepared food (a stall also selling them ready to eat says so), ready-to-eat food for cooked food."""
        return _DEFAULT_OFFERINGS[self]


_STALL_TYPE_ZH: Final = {
    StallType.VEGETABLES: "蔬菜",
    StallType.FRUIT: "水果",
    StallType.MEAT: "肉禽",
    StallType.AQUATIC: "水产",
    StallType.EGGS: "蛋品",
    StallType.SOY_PRODUCTS: "豆制品",
    StallType.COOKED_FOOD: "熟食",
    StallType.PREPARED_FOOD: "预制及加工食品",
    StallType.PREPACKAGED_FOOD: "预包装食品",
}
_PRODUCE: Final = frozenset({Offering.FARM_PRODUCE})
_DEFAULT_OFFERINGS: Final = {
    StallType.VEGETABLES: _PRODUCE,
    StallType.FRUIT: _PRODUCE,
    StallType.MEAT: _PRODUCE,
    StallType.AQUATIC: _PRODUCE,
    StallType.EGGS: _PRODUCE,
    StallType.SOY_PRODUCTS: frozenset({Offering.BULK_FOOD}),
    StallType.COOKED_FOOD: frozenset({Offering.READY_TO_EAT}),
    StallType.PREPARED_FOOD: frozenset({Offering.BULK_FOOD}),
    StallType.PREPACKAGED_FOOD: frozenset({Offering.PREPACKAGED_FOOD}),
}


def offerings_text(offerings: Iterable[Offering]) -> str:
    """Offerings as stored and sent: their values in the enum's order, comma-separated."""
    chosen = set(offerings)
    return ",".join(offering.value for offering in Offering if offering in chosen)


def offerings_of(text: str) -> frozenset[Offering]:
    return frozenset(Offering(value) for value in text.split(",") if value)


class DocumentKind(StrEnum):
    BUSINESS_LICENCE = "business_licence"
    FOOD_BUSINESS_PERMIT = "food_business_permit"
    FOOD_FILING = "food_filing"
    HEALTH_CERTIFICATE = "health_certificate"
    RESIDENT_ID = "resident_id"
    VILLAGE_CERTIFICATE = "village_certificate"

    @property
    def label_zh(self) -> str:
        return _DOCUMENT_ZH[self]

    @property
    def personal(self) -> bool:
        """A document naming a person whose number the public never sees (a stall shows the holder masked)."""
        return self in (DocumentKind.HEALTH_CERTIFICATE, DocumentKind.RESIDENT_ID, DocumentKind.VILLAGE_CERTIFICATE)


_DOCUMENT_ZH: Final = {
    DocumentKind.BUSINESS_LICENCE: "营业执照",
    DocumentKind.FOOD_BUSINESS_PERMIT: "食品经营许可证",
    DocumentKind.FOOD_FILING: "食品经营备案凭证",
    DocumentKind.HEALTH_CERTIFICATE: "健康证明",
    DocumentKind.RESIDENT_ID: "居民身份证",
    DocumentKind.VILLAGE_CERTIFICATE: "村（居）委会自产证明",
}


class Requirement(StrEnum):
    """A document a stall must show; each is met by documents of the kinds it ``accepts``."""

    BUSINESS_LICENCE = "business_licence"
    FARMER_IDENTITY = "farmer_identity"
    FOOD_BUSINESS_PERMIT = "food_business_permit"
    FOOD_FILING = "food_filing"
    HEALTH_CERTIFICATE = "health_certificate"

    @property
    def label_zh(self) -> str:
        return _REQUIREMENT_ZH[self]

    @property
    def accepts(self) -> tuple[DocumentKind, ...]:
        """The kinds that meet the requirement, the requirement's own first (shown when it is good): a permit allows
        more than a filing, so it meets a filing's requirement; a farmer holding a licence anyway may show it."""
        return _ACCEPTS[self]


_REQUIREMENT_ZH: Final = {
    Requirement.BUSINESS_LICENCE: "营业执照",
    Requirement.FARMER_IDENTITY: "自产自销农户身份证明",
    Requirement.FOOD_BUSINESS_PERMIT: "食品经营许可证",
    Requirement.FOOD_FILING: "食品经营备案凭证",
    Requirement.HEALTH_CERTIFICATE: "健康证明",
}
_ACCEPTS: Final = {
    Requirement.BUSINESS_LICENCE: (DocumentKind.BUSINESS_LICENCE,),
    Requirement.FARMER_IDENTITY: (DocumentKind.VILLAGE_CERTIFICATE, DocumentKind.RESIDENT_ID,
                                  DocumentKind.BUSINESS_LICENCE),
    Requirement.FOOD_BUSINESS_PERMIT: (DocumentKind.FOOD_BUSINESS_PERMIT,),
    Requirement.FOOD_FILING: (DocumentKind.FOOD_FILING, DocumentKind.FOOD_BUSINESS_PERMIT),
    Requirement.HEALTH_CERTIFICATE: (DocumentKind.HEALTH_CERTIFICATE,),
}


@dataclass(frozen=True)
class LicencePolicy:
    """A market's own rules on top of the law (both off: the law alone).

    ``health_certificate_every_stall``: every person on every stall's roster holds a valid health certificate, and
    every stall has someone on its roster — not only those handling ready-to-eat food.
    ``licence_for_farmers``: farmers selling their own produce show a business licence as everyone else."""

    health_certificate_every_stall: bool = False
    licence_for_farmers: bool = False


@dataclass(frozen=True)
class Rule:
    """One row of the table of what a stall needs: the requirement, which stalls it applies to, and why."""

    requirement: Requirement
    applies_to: str
    applies_to_zh: str
    basis: LegalBasis


RULES: Final = (
    Rule(Requirement.BUSINESS_LICENCE, "every stall, but a farmer's selling only their own farm produce",
         "所有摊位（自产自销农户只售自产食用农产品的除外）", MARKET_ENTITY_REGISTRATION_ART_3),
    Rule(Requirement.FARMER_IDENTITY, "a farmer selling only their own farm produce (自产自销)",
         "自产自销农户只售自产食用农产品的：以居民身份证或村（居）委会自产证明代替营业执照", UNLICENSED_BUSINESS_ART_3),
    Rule(Requirement.FOOD_BUSINESS_PERMIT, "a stall selling bulk or ready-to-eat food",
         "经营散装食品或直接入口食品（熟食等）的摊位", FOOD_SAFETY_LAW_ART_35),
    Rule(Requirement.FOOD_FILING, "a stall selling pre-packaged food and no bulk or ready-to-eat food",
         "仅经营预包装食品的摊位（持食品经营许可证的亦可）", FOOD_SAFETY_LAW_ART_35),
    Rule(Requirement.HEALTH_CERTIFICATE, "each person on the roster who handles ready-to-eat food",
         "名单上每名接触直接入口食品的从业人员", FOOD_SAFETY_LAW_ART_45),
    Rule(Requirement.HEALTH_CERTIFICATE, "each person on every stall's roster, where the market asks it",
         "本市场要求时：所有摊位名单上的每名从业人员", MARKET_RULE),
    Rule(Requirement.BUSINESS_LICENCE, "farmers too, where the market asks it",
         "本市场要求时：自产自销农户也须营业执照", MARKET_RULE),
)
"""The rules as the docs' table prints them; :func:`required_documents` applies them."""


@dataclass(frozen=True)
class StaffMember:
    """A person working at a stall (on its roster), and whether they handle ready-to-eat food (接触直接入口食品).
    Their health certificate is the vendor's document of that kind naming them as its holder."""

    name: str
    handles_ready_to_eat: bool = True

    def __post_init__(self) -> None:
        name = self.name.strip()
        if not 1 <= len(name) <= 64 or _CONTROL.search(name):
            raise ValueError("a staff member's name has 1 to 64 characters, no control characters")
        object.__setattr__(self, "name", name)


def roster_problem(staff: Sequence[StaffMember]) -> str | None:
    """What is wrong with a stall's roster as a whole: too long, or a name twice."""
    if len(staff) > MAX_STAFF:
        return f"a stall's roster has at most {MAX_STAFF} people"
    names = [member.name for member in staff]
    twice = sorted({name for name in names if names.count(name) > 1})
    return f"{'、'.join(twice)} is on the roster twice" if twice else None


@dataclass(frozen=True)
class Required:
    """A requirement of a stall and why."""

    requirement: Requirement
    basis: LegalBasis


def required_documents(offerings: Iterable[Offering], *, self_producing: bool = False,
                       policy: LicencePolicy = LicencePolicy()) -> tuple[Required, ...]:
    """The documents a stall selling ``offerings`` must show, in display order, each with its basis. The health
    certificates are one requirement here (each person's is assessed by :func:`assess_stall`)."""
    sells = frozenset(offerings)
    farmer = self_producing and sells == _PRODUCE
    if farmer and not policy.licence_for_farmers:
        required = [Required(Requirement.FARMER_IDENTITY, UNLICENSED_BUSINESS_ART_3)]
    else:
        required = [Required(Requirement.BUSINESS_LICENCE, MARKET_RULE if farmer
                             else MARKET_ENTITY_REGISTRATION_ART_3)]
    if sells & {Offering.BULK_FOOD, Offering.READY_TO_EAT}:
        required.append(Required(Requirement.FOOD_BUSINESS_PERMIT, FOOD_SAFETY_LAW_ART_35))
    elif Offering.PREPACKAGED_FOOD in sells:
        required.append(Required(Requirement.FOOD_FILING, FOOD_SAFETY_LAW_ART_35))
    if Offering.READY_TO_EAT in sells:
        required.append(Required(Requirement.HEALTH_CERTIFICATE, FOOD_SAFETY_LAW_ART_45))
    elif policy.health_certificate_every_stall:
        required.append(Required(Requirement.HEALTH_CERTIFICATE, MARKET_RULE))
    return tuple(required)


def needs_certificate(member: StaffMember, offerings: Iterable[Offering], policy: LicencePolicy
                      ) -> LegalBasis | None:
    """Why ``member`` must hold a health certificate at a stall selling ``offerings`` (None: they need not)."""
    if member.handles_ready_to_eat and Offering.READY_TO_EAT in frozenset(offerings):
        return FOOD_SAFETY_LAW_ART_45
    return MARKET_RULE if policy.health_certificate_every_stall else None


def document_problems(kind: DocumentKind, number: str, valid_from: date, valid_to: date | None,
                      holder: str | None, scope: str | None) -> list[FieldProblem]:
    """Everything wrong with a document as typed (``number`` as printed: see :func:`printed_number`), each at its
    field; empty when it may be recorded."""
    problems: list[FieldProblem] = []
    if not number or len(number) > 64:
        problems.append(FieldProblem("number", "a document number has 1 to 64 characters", "证照编号为 1–64 个字符"))
    elif kind is DocumentKind.BUSINESS_LICENCE and (code := credit_code_problem(number)) is not None:
        problems.append(FieldProblem("number", f"business licence number {number!r}: {code.message}",
                                     code.message_zh))
    elif kind is DocumentKind.FOOD_BUSINESS_PERMIT and not FOOD_PERMIT_NUMBER.fullmatch(number):
        problems.append(FieldProblem("number", f"food business permit number {number!r}: expected JY and 14 digits",
                                     "食品经营许可证编号为 JY 加 14 位数字"))
    elif kind is DocumentKind.RESIDENT_ID and (identity := id_number_problem(number)) is not None:
        problems.append(FieldProblem("number", f"identity number: {identity.message}", identity.message_zh))
    if kind is DocumentKind.FOOD_BUSINESS_PERMIT and not scope:
        problems.append(FieldProblem("scope", "a food business permit has a business scope",
                                     "食品经营许可证须填写经营项目"))
    if kind in (DocumentKind.FOOD_BUSINESS_PERMIT, DocumentKind.HEALTH_CERTIFICATE) and valid_to is None:
        problems.append(FieldProblem("valid_to", f"a {kind.value.replace('_', ' ')} is valid to a date",
                                     f"{kind.label_zh}须填写有效期至"))
    if kind.personal and not holder:
        problems.append(FieldProblem("holder", f"a {kind.value.replace('_', ' ')} names its holder",
                                     f"{kind.label_zh}须填写持证人姓名"))
    if valid_to is not None and valid_to < valid_from:
        problems.append(FieldProblem("valid_to", f"{kind.value}: valid_to {valid_to} is before valid_from "
                                                 f"{valid_from}", "有效期至不能早于生效日期"))
    return problems


def printed_number(kind: DocumentKind, typed: str) -> str:
    """A document's number as printed: a credit code or an identity number in half-width capitals (people type them
    in lower case or with full-width characters); other numbers as typed."""
    if kind in (DocumentKind.BUSINESS_LICENCE, DocumentKind.RESIDENT_ID):
        return normalised_code(typed)
    return typed


@dataclass(frozen=True)
class Document:
    """One document of a vendor. ``holder`` names the person on a health certificate, an identity card or a
    village committee's certificate."""

    kind: DocumentKind
    number: str
    valid_from: date
    valid_to: date | None = None
    holder: str | None = None
    scope: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "number", printed_number(self.kind, self.number))
        problems = document_problems(self.kind, self.number, self.valid_from, self.valid_to, self.holder,
                                     self.scope)
        if problems:
            raise ValueError(problems[0].message)

    def days_to_expiry(self, today: date) -> int | None:
        """Days left after today (0: today is the last valid day, negative: expired); None if long-term."""
        return None if self.valid_to is None else (self.valid_to - today).days


@dataclass(frozen=True)
class RecordedDocument:
    """A document as the operator recorded it, numbered; a voided one (mistyped) no longer counts. ``scan``: the
    copy of it the market keeps (a scan or photo), when one was uploaded."""

    document_id: int
    vendor_id: str
    document: Document
    recorded_at: datetime
    recorded_by: str
    voided_at: datetime | None = None
    voided_by: str | None = None
    void_reason: str | None = None
    scan: Scan | None = None

    @property
    def voided(self) -> bool:
        return self.voided_at is not None


class Validity(StrEnum):
    VALID = "valid"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    MISSING = "missing"

    @property
    def label_zh(self) -> str:
        return _VALIDITY_ZH[self]

    @property
    def satisfies(self) -> bool:
        return self in (Validity.VALID, Validity.EXPIRING)


_VALIDITY_ZH: Final = {
    Validity.VALID: "有效",
    Validity.EXPIRING: "即将到期",
    Validity.EXPIRED: "已过期",
    Validity.NOT_YET_VALID: "尚未生效",
    Validity.MISSING: "缺失",
}


@dataclass(frozen=True)
class DocumentStatus:
    """A required document's state on a day; ``warning_days`` is the tightest threshold reached. ``person``: whose
    health certificate it is (a missing one names who lacks it); ``basis``: why it is required."""

    required: Requirement
    document: Document | None
    validity: Validity
    days_to_expiry: int | None = None
    warning_days: int | None = None
    person: str | None = None
    basis: LegalBasis | None = None


def document_status(
    required: Requirement, document: Document | None, today: date,
    warning_days: Sequence[int] = DEFAULT_WARNING_DAYS, *, person: str | None = None,
    basis: LegalBasis | None = None,
) -> DocumentStatus:
    """Whether ``document`` (possibly none) meets ``required`` on ``today``, with expiry warnings.

    A document inside the largest warning window is "expiring" and still satisfies the requirement;
    ``warning_days`` reports the smallest threshold it has reached (30, 7, then 0 on its last day).
    """
    if document is None:
        return DocumentStatus(required, None, Validity.MISSING, person=person, basis=basis)
    days = document.days_to_expiry(today)
    if today < document.valid_from:
        return DocumentStatus(required, document, Validity.NOT_YET_VALID, days, person=person, basis=basis)
    if days is not None and days < 0:
        return DocumentStatus(required, document, Validity.EXPIRED, days, person=person, basis=basis)
    reached = [threshold for threshold in warning_days if days is not None and days <= threshold]
    if reached:
        return DocumentStatus(required, document, Validity.EXPIRING, days, min(reached), person=person, basis=basis)
    return DocumentStatus(required, document, Validity.VALID, days, person=person, basis=basis)


def best_document(candidates: Iterable[Document], today: date) -> Document | None:
    """The document to show among several of a kind: a valid one lasting longest, else the next to
    become valid, else the one that expired last."""
    documents = list(candidates)
    valid = [d for d in documents if d.valid_from <= today and (d.valid_to is None or d.valid_to >= today)]
    if valid:
        return max(valid, key=lambda d: (d.valid_to is None, d.valid_to or date.max, d.valid_from))
    future = [d for d in documents if d.valid_from > today]
    if future:
        return min(future, key=lambda d: d.valid_from)
    return max(documents, key=lambda d: d.valid_to or date.max, default=None)


@dataclass(frozen=True)
class StallLicenceStatus:
    """What a stall must show and what it has: one status per requirement (the health certificates of the staff
    together are one requirement, which stands as the worst of them) and each person's certificate who needs one."""

    offerings: frozenset[Offering]
    required: tuple[DocumentStatus, ...]
    health_certificates: tuple[DocumentStatus, ...]

    @property
    def compliant(self) -> bool:
        return all(status.validity.satisfies for status in self.required)

    @property
    def attention(self) -> tuple[DocumentStatus, ...]:
        """Everything the operator should act on: missing, expired, not yet valid, or expiring, including each
        person's own certificate."""
        statuses = [s for s in self.required if s.required is not Requirement.HEALTH_CERTIFICATE]
        statuses.extend(self.health_certificates or [s for s in self.required
                                                     if s.required is Requirement.HEALTH_CERTIFICATE])
        return tuple(s for s in statuses if s.validity is not Validity.VALID)


def assess_stall(
    offerings: Iterable[Offering], documents: Iterable[Document], today: date,
    warning_days: Sequence[int] = DEFAULT_WARNING_DAYS, *, staff: Iterable[StaffMember] = (),
    self_producing: bool = False, policy: LicencePolicy = LicencePolicy(),
) -> StallLicenceStatus:
    """The licence status on ``today`` of a stall selling ``offerings`` whose vendor holds ``documents``, with
    ``staff`` on its roster; ``self_producing``: its vendor is a farmer selling their own produce."""
    sells = frozenset(offerings)
    held = list(documents)
    certificates = tuple(
        document_status(Requirement.HEALTH_CERTIFICATE, best_document(_certificates_of(member.name, held), today),
                        today, warning_days, person=member.name, basis=basis)
        for member in sorted(staff, key=lambda m: m.name)
        if (basis := needs_certificate(member, sells, policy)) is not None)
    statuses = []
    for required in required_documents(sells, self_producing=self_producing, policy=policy):
        if required.requirement is Requirement.HEALTH_CERTIFICATE:
            statuses.append(_staff_requirement(certificates, required.basis))
        else:
            statuses.append(_shown(required, held, today, warning_days))
    return StallLicenceStatus(sells, tuple(statuses), certificates)


def _certificates_of(name: str, held: Iterable[Document]) -> list[Document]:
    return [d for d in held if d.kind is DocumentKind.HEALTH_CERTIFICATE and d.holder == name]


def _shown(required: Required, held: Sequence[Document], today: date, warning_days: Sequence[int]) -> DocumentStatus:
    """The status of a requirement by the best document of each kind it accepts: the first good one, else the first
    held at all (expired, not yet valid), else missing."""
    statuses = [document_status(required.requirement, best_document((d for d in held if d.kind is kind), today),
                                today, warning_days, basis=required.basis)
                for kind in required.requirement.accepts]
    shown = ([s for s in statuses if s.validity.satisfies]
             or [s for s in statuses if s.validity is not Validity.MISSING] or statuses)
    return shown[0]


_WORST_FIRST: Final = {Validity.MISSING: 0, Validity.EXPIRED: 1, Validity.NOT_YET_VALID: 2, Validity.EXPIRING: 3,
                       Validity.VALID: 4}


def _staff_requirement(certificates: tuple[DocumentStatus, ...], basis: LegalBasis) -> DocumentStatus:
    """Everyone who needs a certificate holds a valid one: the worst of theirs stands for the stall (nobody on the
    roster who needs one, while the stall's food asks it: missing)."""
    if not certificates:
        return DocumentStatus(Requirement.HEALTH_CERTIFICATE, None, Validity.MISSING, basis=basis)
    return min(certificates, key=lambda s: (_WORST_FIRST[s.validity], s.days_to_expiry if s.days_to_expiry
                                            is not None else 10**6))
