"""Numbers that identify whoever sells at a stall, checked as their standards define them; each problem is a value
with a reason.

* The unified social credit code (统一社会信用代码, GB 32100-2015) on a business licence, 18 characters:

  ====== ==========================================================================================
  1      registration authority (登记管理部门): 9 market regulation (工商), 5 civil affairs (民政), ...
  2      entity type under that authority (机构类别): under 9, 1 enterprise, 2 individual business
         (个体工商户), 3 farmers' cooperative (农民专业合作社)
  3–8    the registering office's administrative division (six digits)
  9–17   the subject identifier: the organisation code of GB 11714-1997, eight characters and its own
         check character (``70846113-6``)
  18     the check character over the first 17 (ISO 7064 MOD 31-3)
  ====== ==========================================================================================

* The citizen identity number (公民身份号码, GB 11643-1999) on a resident identity card, 18 characters: the
  division of first registration, the birth date, a sequence number and a check character (ISO 7064 MOD 11-2,
  ``X`` for 10). A farmer selling their own produce (自产自销) shows it instead of a business licence.

Typed numbers are taken as printed: NFKC (full-width to half-width) and upper case before any check.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from enum import StrEnum
from typing import Final

# GB 32100-2015: the code's characters (no I, O, Z, S, V) and the weights 3^(i-1) mod 31 of positions 1..17.
CREDIT_CODE_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
CREDIT_CODE_LENGTH: Final = 18

# GB 32100-2015, table of registration authorities (第1位) and the entity types each assigns (第2位), as the code
# centre maintains it (A: the Central Military Commission's office, N: agriculture, added since).
REGISTRATION_AUTHORITIES: Final[dict[str, tuple[str, dict[str, str]]]] = {
    "1": ("机构编制", {"1": "机关", "2": "事业单位", "3": "中央编办直接管理机构编制的群众团体", "9": "其他"}),
    "2": ("外交", {"1": "外国常驻新闻机构", "9": "其他"}),
    "3": ("司法行政", {"1": "律师执业机构", "2": "公证处", "3": "基层法律服务所", "4": "司法鉴定机构",
                   "5": "仲裁委员会", "9": "其他"}),
    "4": ("文化", {"1": "外国在华文化中心", "9": "其他"}),
    "5": ("民政", {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
    "6": ("旅游", {"1": "外国旅游部门常驻代表机构", "2": "港澳台地区旅游部门常驻内地（大陆）代表机构", "9": "其他"}),
    "7": ("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
    "8": ("工会", {"1": "基层工会", "9": "其他"}),
    "9": ("工商", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
    "A": ("中央军委改革和编制办公室", {"1": "军队事业单位", "9": "其他"}),
    "N": ("农业", {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"}),
    "Y": ("其他", {"1": "其他"}),
}

# GB 11714-1997: the organisation code's eight characters weigh 3 7 9 10 5 8 4 2; letters count A=10 ... Z=35.
ORGANISATION_CODE_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)
_BASE36: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# GB 11643-1999: weights 2^(17-i) mod 11 of the first 17 digits; the check character by the remainder.
ID_NUMBER_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK: Final = "10X98765432"


def normalised_code(typed: str) -> str:
    """A code as printed: half-width capitals (``91440300708461136t`` → ``…136T``), no surrounding space."""
    return unicodedata.normalize("NFKC", typed).strip().upper()


class CreditCodeProblem(StrEnum):
    LENGTH = "length"
    CHARACTER = "character"
    AUTHORITY = "authority"
    ENTITY_TYPE = "entity_type"
    REGION = "region"
    ORGANISATION_CODE = "organisation_code"
    CHECK_CHARACTER = "check_character"

    @property
    def message(self) -> str:
        return {
            CreditCodeProblem.LENGTH: "a unified social credit code has 18 characters",
            CreditCodeProblem.CHARACTER: "only digits and the capitals A-H J-N P-R T U W-Y are used (no I O S V Z)",
            CreditCodeProblem.AUTHORITY: "the 1st character is no registration authority of GB 32100 "
                                         "(1-9, A, N or Y; 9 for market regulation)",
            CreditCodeProblem.ENTITY_TYPE: "the 2nd character is no entity type of the registration authority "
                                           "(under 9: 1 enterprise, 2 individual business, 3 farmers' cooperative)",
            CreditCodeProblem.REGION: "characters 3-8 are the administrative division code: six digits",
            CreditCodeProblem.ORGANISATION_CODE: "characters 9-17 are an organisation code whose check character "
                                                 "(17th) does not match its first eight (GB 11714)",
            CreditCodeProblem.CHECK_CHARACTER: "the check character (18th) does not match the first 17 (GB 32100)",
        }[self]

    @property
    def message_zh(self) -> str:
        return {
            CreditCodeProblem.LENGTH: "统一社会信用代码为 18 位",
            CreditCodeProblem.CHARACTER: "统一社会信用代码只含数字和大写字母（不含 I、O、S、V、Z）",
            CreditCodeProblem.AUTHORITY: "统一社会信用代码第 1 位是登记管理部门代码（市场监管登记的为 9），这一位不对",
            CreditCodeProblem.ENTITY_TYPE: "统一社会信用代码第 2 位是机构类别代码（企业 1、个体工商户 2、"
                                           "农民专业合作社 3），这一位不对",
            CreditCodeProblem.REGION: "统一社会信用代码第 3–8 位是行政区划代码（6 位数字）",
            CreditCodeProblem.ORGANISATION_CODE: "统一社会信用代码第 9–17 位是组织机构代码，其校验位（第 17 位）"
                                                 "不对（GB 11714），请核对营业执照",
            CreditCodeProblem.CHECK_CHARACTER: "统一社会信用代码的校验位（第 18 位）不对，请核对营业执照",
        }[self]


def credit_code_check_character(first_17: str) -> str:
    """The GB 32100 check character of the first 17 characters of a credit code."""
    if len(first_17) != CREDIT_CODE_LENGTH - 1 or any(ch not in CREDIT_CODE_ALPHABET for ch in first_17):
        raise ValueError("need the first 17 characters of a credit code, from its alphabet")
    values = (CREDIT_CODE_ALPHABET.index(ch) for ch in first_17)
    total = sum(value * weight for value, weight in zip(values, CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def organisation_code_check_character(first_8: str) -> str:
    """The GB 11714 check character of an organisation code's first eight characters (a digit, or X for 10)."""
    if len(first_8) != len(ORGANISATION_CODE_WEIGHTS) or any(ch not in _BASE36 for ch in first_8):
        raise ValueError("need the first 8 characters of an organisation code: digits and capitals")
    total = sum(_BASE36.index(ch) * weight for ch, weight in zip(first_8, ORGANISATION_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def credit_code_problem(code: str) -> CreditCodeProblem | None:
    """What is wrong with a unified social credit code, or None when it is well formed: its characters, the
    registration authority and entity type (1st, 2nd), the division (3-8), the organisation code's check character
    (17th, GB 11714) and the code's own (18th)."""
    if len(code) != CREDIT_CODE_LENGTH:
        return CreditCodeProblem.LENGTH
    if any(ch not in CREDIT_CODE_ALPHABET for ch in code):
        return CreditCodeProblem.CHARACTER
    authority = REGISTRATION_AUTHORITIES.get(code[0])
    if authority is None:
        return CreditCodeProblem.AUTHORITY
    if code[1] not in authority[1]:
        return CreditCodeProblem.ENTITY_TYPE
    if not code[2:8].isdigit():
        return CreditCodeProblem.REGION
    if organisation_code_check_character(code[8:16]) != code[16]:
        return CreditCodeProblem.ORGANISATION_CODE
    if credit_code_check_character(code[:17]) != code[17]:
        return CreditCodeProblem.CHECK_CHARACTER
    return None


def registrant_kind(code: str) -> str | None:
    """Who registered a well-formed code and what it is, in words: ``工商 · 个体工商户``."""
    authority = REGISTRATION_AUTHORITIES.get(code[:1])
    if authority is None or code[1:2] not in authority[1]:
        return None
    return f"{authority[0]} · {authority[1][code[1]]}"


class IdNumberProblem(StrEnum):
    FORMAT = "format"
    BIRTH_DATE = "birth_date"
    CHECK_CHARACTER = "check_character"

    @property
    def message(self) -> str:
        return {
            IdNumberProblem.FORMAT: "a citizen identity number has 17 digits and a check character (a digit or X)",
            IdNumberProblem.BIRTH_DATE: "characters 7-14 are the birth date (YYYYMMDD): this is no date",
            IdNumberProblem.CHECK_CHARACTER: "the check character (18th) does not match the first 17 (GB 11643)",
        }[self]

    @property
    def message_zh(self) -> str:
        return {
            IdNumberProblem.FORMAT: "公民身份号码为 17 位数字加 1 位校验码（数字或 X）",
            IdNumberProblem.BIRTH_DATE: "公民身份号码第 7–14 位是出生日期，这不是一个日期",
            IdNumberProblem.CHECK_CHARACTER: "公民身份号码的校验码（第 18 位）不对，请核对身份证",
        }[self]


def id_number_check_character(first_17: str) -> str:
    """The GB 11643 check character of an identity number's first 17 digits."""
    if len(first_17) != len(ID_NUMBER_WEIGHTS) or not (first_17.isascii() and first_17.isdigit()):
        raise ValueError("need the first 17 digits of an identity number")
    total = sum(int(digit) * weight for digit, weight in zip(first_17, ID_NUMBER_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def id_number_problem(number: str) -> IdNumberProblem | None:
    """What is wrong with an 18-character citizen identity number, or None when it is well formed."""
    if len(number) != 18 or not (number[:17].isascii() and number[:17].isdigit()) or number[17] not in "0123456789X":
        return IdNumberProblem.FORMAT
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return IdNumberProblem.BIRTH_DATE
    if id_number_check_character(number[:17]) != number[17]:
        return IdNumberProblem.CHECK_CHARACTER
    return None
