"""What a batch is (:class:`ProductCategory`), as the rules on certificates and on rapid tests tell products apart.

Its own module so that both rule tables (certificates in :mod:`market.tracing`, rapid-test items in
:mod:`market.rapid_tests`) can name it; :mod:`market.tracing` re-exports it."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class ProductCategory(StrEnum):
    """What a batch is, as the rules on certificates and rapid tests tell products apart."""

    VEGETABLES = "vegetables"
    FRUIT = "fruit"
    PORK = "pork"
    LIVESTOCK_MEAT = "livestock_meat"
    POULTRY = "poultry"
    AQUATIC = "aquatic"
    EGGS = "eggs"
    SOY_PRODUCTS = "soy_products"
    COOKED_FOOD = "cooked_food"
    PREPARED_FOOD = "prepared_food"
    PREPACKAGED_FOOD = "prepackaged_food"

    @property
    def label_zh(self) -> str:
        return _CATEGORY_ZH[self]


_CATEGORY_ZH: Final = {
    ProductCategory.VEGETABLES: "蔬菜",
    ProductCategory.FRUIT: "水果",
    ProductCategory.PORK: "猪肉",
    ProductCategory.LIVESTOCK_MEAT: "牛羊等畜肉",
    ProductCategory.POULTRY: "禽肉",
    ProductCategory.AQUATIC: "水产品",
    ProductCategory.EGGS: "鲜蛋",
    ProductCategory.SOY_PRODUCTS: "豆制品",
    ProductCategory.COOKED_FOOD: "熟食",
    ProductCategory.PREPARED_FOOD: "预制及加工食品",
    ProductCategory.PREPACKAGED_FOOD: "预包装食品",
}

EDIBLE_FARM_PRODUCE: Final = frozenset({
    ProductCategory.VEGETABLES, ProductCategory.FRUIT, ProductCategory.PORK, ProductCategory.LIVESTOCK_MEAT,
    ProductCategory.POULTRY, ProductCategory.AQUATIC, ProductCategory.EGGS})
"""食用农产品: the categories the Agricultural Product Quality Safety Law's certificates are about."""
