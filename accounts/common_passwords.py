"""The passwords tried first: the most common ones in the leaked password lists of Chinese and international
sites (CSDN, 天涯, 7k7k, RockYou...), keyboard walks, 我爱你 numerals, and this product's own name. Data, not a
download: a short list catches the passwords guessed in the first minutes of an attack, and the other rules of
:mod:`accounts.passwords` (length, variety, not the account id) catch the rest of the obvious ones.

Lower case: a password is compared in lower case after NFKC (so full-width ｑｗｅｒｔｙ is qwerty)."""

from __future__ import annotations

from typing import Final

COMMON_PASSWORDS: Final = frozenset({
    # digits
    "123456", "1234567", "12345678", "123456789", "1234567890", "0123456789", "01234567", "12345678910",
    "987654321", "9876543210", "87654321", "654321", "123123", "123123123", "123321", "12344321", "1234554321",
    "123654", "112233", "11223344", "111222", "121212", "12121212", "123qwe", "147258", "147258369", "159357",
    "159753", "258369", "321321", "369258", "741852", "741852963", "789456", "789456123", "963852741",
    "000000", "00000000", "111111", "11111111", "222222", "22222222", "666666", "66666666", "888888", "88888888",
    "999999", "99999999", "168168", "16881688", "518518", "520520", "5201314", "52013145201314", "1314520",
    "1314521", "5211314", "7758521", "7758258", "584520", "3344520", "3344521", "110110", "110120", "246810",
    "19491001", "20082008", "19841984", "19901990",
    # 我爱你 and names
    "woaini", "woaini1314", "woaini520", "woaini521", "woaini123", "woaini1234", "woainima", "woaiwojia",
    "aini1314", "iloveyou", "iloveyou1314", "iloveyou520", "5201314a", "a5201314", "wang123456", "zhang123456",
    "li123456", "liu123456", "chen123456", "yang123456", "huang123456", "zhao123456", "zhangwei", "wangwei",
    "wangfang", "liwei", "wangjing", "liujun", "zhangjun", "qq123456", "qq123456789", "qwe123456",
    # keyboard walks
    "qwerty", "qwerty123", "qwerty1234", "qwertyui", "qwertyuiop", "qwer1234", "1234qwer", "qwe123", "qweasd",
    "qweasdzxc", "qwe123qwe", "1qaz2wsx", "1qaz2wsx3edc", "1qaz@wsx", "!qaz2wsx", "1q2w3e", "1q2w3e4r",
    "1q2w3e4r5t", "1q2w3e4r5t6y", "q1w2e3r4", "qazwsx", "qazwsxedc", "zaq12wsx", "asdfgh", "asdfghjk",
    "asdfghjkl", "asd123", "asd123456", "asdasd", "asdasdasd", "zxcvbn", "zxcvbnm", "zxc123", "zxc123456",
    "zxczxc", "1234asdf", "asdf1234", "abcd1234", "1234abcd", "abc123", "abc12345", "abc123456", "abcdef",
    "abcdefg", "abcdefgh", "abcd123456", "a123456", "a1234567", "a12345678", "a123456789", "aa123456",
    "aa12345678", "aaa123456", "a1b2c3d4", "a1b2c3", "123456a", "123456aa", "123456abc", "123abc",
    # words
    "password", "password1", "password12", "password123", "passw0rd", "p@ssw0rd", "p@ssword", "pass1234",
    "pass123", "mima123", "mima1234", "mima123456", "admin", "admin123", "admin1234", "admin12345", "admin888",
    "admin@123", "admin123456", "administrator", "root", "root123", "root1234", "root123456", "guest", "test",
    "test123", "test1234", "test123456", "changeme", "letmein", "welcome", "welcome1", "welcome123", "iloveu",
    "monkey", "dragon", "sunshine", "princess", "football", "baseball", "superman", "batman", "master",
    "shadow", "michael", "trustno1", "whatever", "starwars", "computer", "internet", "secret", "login",
    "default", "user", "user123", "manager", "manager123", "service", "system",
    # this product and its domain
    "smartcity", "smartcity1", "smartcity123", "smartcity2026", "wuye123", "wuye123456", "wuye8888",
    "yezhu123", "yezhu123456", "shequ123", "shequ123456", "shichang123", "zhihuishequ", "menjin123",
})
