"""How the market's pages word states and quantities: a licence's or a delivery's state as a tone (ok,
warn, bad) and words, grams as kilograms, a vendor's phone masked for lists."""

from __future__ import annotations

from typing import Final

from market.licences import DocumentStatus, Validity
from market.scale_delivery import Delivery, DeliveryStatus


def licence_tone(status: DocumentStatus) -> str:
    if status.validity is Validity.VALID:
        return "ok"
    if status.validity is Validity.EXPIRING:
        return "bad" if status.warning_days == 0 else "warn"
    return "bad"


def licence_text(status: DocumentStatus) -> str:
    days = status.days_to_expiry
    if status.validity is Validity.MISSING:
        return "缺失"
    if status.validity is Validity.EXPIRED:
        return f"已过期 {-days} 天" if days is not None else "已过期"
    if status.validity is Validity.NOT_YET_VALID:
        start = status.document.valid_from if status.document else None
        return f"{start} 起生效" if start else "尚未生效"
    if status.validity is Validity.EXPIRING:
        return "今天到期" if days == 0 else f"剩 {days} 天"
    return "有效" if days is not None else "长期有效"


_DELIVERY_TEXT: Final = {
    DeliveryStatus.PENDING: ("warn", "等待确认"),
    DeliveryStatus.ACKED: ("ok", "已确认"),
    DeliveryStatus.FAILED: ("bad", "失败"),
    DeliveryStatus.GIVEN_UP: ("bad", "已放弃"),
    DeliveryStatus.SUPERSEDED: ("", "已被新价目表取代"),
}


def delivery_tone(delivery: Delivery) -> str:
    return _DELIVERY_TEXT[delivery.status][0]


def delivery_text(delivery: Delivery) -> str:
    return _DELIVERY_TEXT[delivery.status][1]


def kilograms(grams: int) -> str:
    """Grams as kilograms for people, exactly: 1250 → "1.25", 50000 → "50"."""
    whole, part = divmod(grams, 1000)
    return f"{whole:,}" + (f".{part:03d}".rstrip("0") if part else "")


def masked_phone(phone: str | None) -> str:
    """A phone number as a list shows it (personal data: the whole number is on the vendor's own page, to the
    market's operators): the first three and last four digits of a mobile number, 138****0000; of a shorter one
    the last two."""
    if not phone:
        return ""
    digits = phone.replace(" ", "").replace("-", "")
    if len(digits) >= 11:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(len(digits) - 2, 1) + digits[-2:]
