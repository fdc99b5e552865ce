"""What makes a password too weak to be set, wherever a person sets one: the first administrator (``smartcity
admin create``, the setup page), an invitation, a reset, a resident's activation, ``smartcity account create``.
Plain Python, no I/O.

The rules refuse what is guessed first, with a reason the person can act on: too short; the account id, or
containing it; among the most common passwords (:mod:`accounts.common_passwords`); only one kind of character
(all digits — a birthday, a phone number — or all lower-case letters) and short; or almost one character
repeated. They do not score or demand symbols: a long phrase of ordinary words passes.
"""

from __future__ import annotations

import unicodedata
from enum import Enum
from typing import Final

from accounts.common_passwords import COMMON_PASSWORDS

MIN_PASSWORD_CHARS: Final = 8
MAX_PASSWORD_CHARS: Final = 128
MIN_ONE_KIND_CHARS: Final = 12
"""A password of one kind of character only (digits, lower-case, upper-case, or other) is this long at least:
eleven digits are a phone number."""
MIN_DISTINCT_CHARS: Final = 5
MIN_ACCOUNT_ID_CHARS_CHECKED: Final = 3
"""An account id this short (``li``) may be inside a good password by chance; longer, it is refused in one."""


class PasswordProblem(Enum):
    """Why a password may not be set."""

    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    LIKE_ACCOUNT_ID = "like_account_id"
    COMMON = "common"
    ONE_KIND = "one_kind"
    REPETITIVE = "repetitive"

    @property
    def message(self) -> str:
        """In English, for the command line and the API."""
        return _MESSAGES[self][0]

    @property
    def text(self) -> str:
        """In Chinese, for the pages."""
        return _MESSAGES[self][1]


_MESSAGES: Final = {
    PasswordProblem.TOO_SHORT: (f"the password has at least {MIN_PASSWORD_CHARS} characters",
                                f"密码至少 {MIN_PASSWORD_CHARS} 个字符。"),
    PasswordProblem.TOO_LONG: (f"the password has at most {MAX_PASSWORD_CHARS} characters",
                               f"密码最多 {MAX_PASSWORD_CHARS} 个字符。"),
    PasswordProblem.LIKE_ACCOUNT_ID: ("the password must not be the account id, nor contain it",
                                      "密码不能是账号本身，也不能包含账号。"),
    PasswordProblem.COMMON: ("this password is one of the most common ones, which are tried first: choose another",
                             "这是最常见的密码之一，会被最先尝试，请换一个。"),
    PasswordProblem.ONE_KIND: (f"a password of one kind of character only (only digits, only lower-case letters...) "
                               f"has at least {MIN_ONE_KIND_CHARS} characters: mix letters and digits, or make it "
                               "longer",
                               f"只含一类字符（例如全是数字或全是小写字母）的密码至少 {MIN_ONE_KIND_CHARS} 个字符："
                               "请混合字母和数字，或加长密码。"),
    PasswordProblem.REPETITIVE: (f"the password has at least {MIN_DISTINCT_CHARS} different characters",
                                 f"密码至少包含 {MIN_DISTINCT_CHARS} 个不同的字符。"),
}


def password_problem(password: str, account_id: str) -> PasswordProblem | None:
    """Why ``password`` may not be the password of ``account_id``, or None. Compared as typed on any keyboard
    (NFKC: full-width ｑｗｅｒｔｙ is qwerty) and regardless of case."""
    if len(password) < MIN_PASSWORD_CHARS:
        return PasswordProblem.TOO_SHORT
    if len(password) > MAX_PASSWORD_CHARS:
        return PasswordProblem.TOO_LONG
    folded = unicodedata.normalize("NFKC", password).casefold()
    account = unicodedata.normalize("NFKC", account_id).casefold()
    if account and (folded == account or (len(account) >= MIN_ACCOUNT_ID_CHARS_CHECKED and account in folded)):
        return PasswordProblem.LIKE_ACCOUNT_ID
    if folded.strip() in COMMON_PASSWORDS:
        return PasswordProblem.COMMON
    if len(password) < MIN_ONE_KIND_CHARS and len({_kind(char) for char in password}) == 1:
        return PasswordProblem.ONE_KIND
    if len(set(folded)) < MIN_DISTINCT_CHARS:
        return PasswordProblem.REPETITIVE
    return None


def _kind(char: str) -> str:
    if char.isdigit():
        return "digit"
    if char.islower():
        return "lower"
    if char.isupper():
        return "upper"
    return "other"
