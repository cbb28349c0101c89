"""Personal data helpers: GB 11643 check digits, phone validation, masking, encryption."""

from __future__ import annotations

import random

import pytest

from grid.errors import InvalidInput
from grid.residents.pii import (
    Protector,
    generate_key,
    id_check_digit,
    mask_id,
    mask_name,
    mask_phone,
    normalize_id,
    normalize_phone,
)
from grid.residents.sample import make_id

#: The worked example of GB 11643-1999 (and the many textbooks quoting it).
STANDARD_EXAMPLE = "11010519491231002X"


def test_standard_example_check_digit():
    assert id_check_digit(STANDARD_EXAMPLE[:17]) == "X"
    assert normalize_id(STANDARD_EXAMPLE.lower()) == STANDARD_EXAMPLE
    assert normalize_id("１１０１０５１９４９１２３１００２Ｘ") == STANDARD_EXAMPLE  # full-width


@pytest.mark.parametrize(("value", "reason"), [
    ("110105194912310021", "校验位"),        # wrong check digit
    ("110105194913310023", "出生日期"),      # month 13
    ("110105491231002", "15 位"),            # old 15-digit number
    ("11010519491231002", "17 位"),          # too short
    ("", "缺少"),
])
def test_bad_id_numbers_say_why(value, reason):
    with pytest.raises(InvalidInput) as caught:
        normalize_id(value)
    assert reason in caught.value.message


def test_every_single_digit_change_is_caught():
    # The mod-11 check catches every single-digit substitution: try them all on one number.
    rng = random.Random(3)
    good = make_id(rng)
    for position in range(17):
        for digit in "0123456789":
            if digit != good[position]:
                bad = good[:position] + digit + good[position + 1:]
                with pytest.raises(InvalidInput):
                    normalize_id(bad)


def test_phones():
    assert normalize_phone("+86 138-0000-1234") == "13800001234"
    assert normalize_phone("８６13900005678") == "13900005678"
    for bad in ("12800001234", "1380000123", "010-64001234", "abc"):
        with pytest.raises(InvalidInput, match="手机号无效"):
            normalize_phone(bad)


def test_masks():
    assert mask_id(STANDARD_EXAMPLE) == "110105********002X"
    assert mask_phone("13800005678") == "138****5678"
    assert mask_name("王小明") == "王**"


def test_encryption_round_trip_and_binding():
    protector = Protector(generate_key())
    token = protector.encrypt(STANDARD_EXAMPLE, "id_number")
    assert STANDARD_EXAMPLE not in token and "19491231" not in token
    assert protector.decrypt(token, "id_number") == STANDARD_EXAMPLE
    assert protector.encrypt(STANDARD_EXAMPLE, "id_number") != token  # fresh nonce each time
    with pytest.raises(InvalidInput):  # a phone's slot cannot hold an ID number's ciphertext
        protector.decrypt(token, "phone")
    with pytest.raises(InvalidInput, match="cannot be decrypted"):
        Protector(generate_key()).decrypt(token, "id_number")


def test_fingerprint_is_keyed():
    key = generate_key()
    assert Protector(key).fingerprint(STANDARD_EXAMPLE) == \
        Protector(key).fingerprint(STANDARD_EXAMPLE)
    assert Protector(generate_key()).fingerprint(STANDARD_EXAMPLE) != \
        Protector(key).fingerprint(STANDARD_EXAMPLE)


def test_no_key_no_protector():
    with pytest.raises(InvalidInput, match="GRID_PII_KEY"):
        Protector(None)
    with pytest.raises(InvalidInput, match="32 bytes"):
        Protector("short")
