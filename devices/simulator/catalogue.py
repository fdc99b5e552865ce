"""What the simulated market sells: the halls' zones and the products sold by weight in each, with their usual
prices and sale sizes, and how long before a sale each zone's batches come in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class StallZone(StrEnum):
    """Market halls are zoned by what is sold; the zone letter starts the stall code (``B07``)."""

    VEGETABLES = "A"  # 蔬菜区
    MEAT = "B"  # 肉禽区
    AQUATIC = "C"  # 水产区
    FRUIT = "D"  # 水果区
    EGGS_AND_SOY = "E"  # 蛋品豆制品区


@dataclass(frozen=True, slots=True)
class Product:
    """A product sold by weight: price range in fen per kg and the usual size of one sale in grams."""

    plu: str
    name: str
    zone: StallZone
    price_fen_per_kg: tuple[int, int]
    sale_grams: tuple[int, int]


_Z = StallZone
PRODUCTS: Final[tuple[Product, ...]] = (
    Product("1001", "西红柿", _Z.VEGETABLES, (600, 900), (300, 1500)),
    Product("1002", "大白菜", _Z.VEGETABLES, (160, 300), (1200, 3500)),
    Product("1003", "土豆", _Z.VEGETABLES, (300, 500), (500, 2500)),
    Product("1004", "黄瓜", _Z.VEGETABLES, (500, 800), (300, 1200)),
    Product("1005", "青椒", _Z.VEGETABLES, (600, 1000), (200, 800)),
    Product("1006", "茄子", _Z.VEGETABLES, (500, 900), (300, 1200)),
    Product("1007", "胡萝卜", _Z.VEGETABLES, (300, 500), (300, 1500)),
    Product("1008", "菠菜", _Z.VEGETABLES, (800, 1400), (200, 700)),
    Product("1009", "芹菜", _Z.VEGETABLES, (400, 700), (300, 1000)),
    Product("1010", "大葱", _Z.VEGETABLES, (400, 700), (300, 1200)),
    Product("1011", "生姜", _Z.VEGETABLES, (1200, 2000), (50, 300)),
    Product("1012", "大蒜", _Z.VEGETABLES, (1000, 1600), (100, 500)),
    Product("2001", "猪肉", _Z.MEAT, (2600, 3200), (300, 2000)),
    Product("2002", "排骨", _Z.MEAT, (4400, 5600), (500, 2000)),
    Product("2003", "牛肉", _Z.MEAT, (7000, 9000), (300, 1500)),
    Product("2004", "羊肉", _Z.MEAT, (7000, 9000), (300, 1500)),
    Product("2005", "鸡胸肉", _Z.MEAT, (1600, 2200), (300, 1200)),
    Product("2006", "鸡腿", _Z.MEAT, (1800, 2600), (400, 1500)),
    Product("3001", "草鱼", _Z.AQUATIC, (1400, 2000), (800, 2500)),
    Product("3002", "鲫鱼", _Z.AQUATIC, (1800, 2600), (300, 1000)),
    Product("3003", "鲈鱼", _Z.AQUATIC, (4000, 6000), (400, 1000)),
    Product("3004", "基围虾", _Z.AQUATIC, (8000, 12000), (250, 1000)),
    Product("3005", "花蛤", _Z.AQUATIC, (1000, 1600), (300, 1000)),
    Product("4001", "苹果", _Z.FRUIT, (800, 1400), (500, 2500)),
    Product("4002", "香蕉", _Z.FRUIT, (500, 800), (500, 2000)),
    Product("4003", "橙子", _Z.FRUIT, (700, 1200), (500, 2500)),
    Product("4004", "葡萄", _Z.FRUIT, (1200, 2400), (300, 1500)),
    Product("4005", "西瓜", _Z.FRUIT, (200, 400), (2000, 8000)),
    Product("5001", "鸡蛋", _Z.EGGS_AND_SOY, (1000, 1300), (500, 2500)),
    Product("5002", "鸭蛋", _Z.EGGS_AND_SOY, (1400, 1800), (500, 1500)),
    Product("5003", "豆腐", _Z.EGGS_AND_SOY, (500, 800), (300, 1000)),
    Product("5004", "豆芽", _Z.EGGS_AND_SOY, (300, 500), (200, 800)),
    Product("5005", "腐竹", _Z.EGGS_AND_SOY, (3000, 4000), (100, 500)),
)

# How many days before the sale a batch may have come in: meat and fish arrive every morning.
BATCH_AGE_DAYS: Final[Mapping[StallZone, int]] = {
    _Z.VEGETABLES: 1,
    _Z.MEAT: 0,
    _Z.AQUATIC: 0,
    _Z.FRUIT: 3,
    _Z.EGGS_AND_SOY: 4,
}
