"""Personal data (个人信息): validating, protecting and masking ID numbers and phones.

ID numbers (居民身份证号码, GB 11643-1999) and mobile numbers are encrypted at rest with AES-256-GCM
(``cryptography``), the key derived from ``GRID_PII_KEY``. A keyed HMAC-SHA256 of the ID number —
with a second key derived from the same secret — lets us find duplicates and look a person up
without decrypting anything, and without the plain SHA-256 an attacker could brute-force over
the ~10^10 possible ID numbers. Masked forms (110105********1234, 138****5678) are stored beside
the ciphertext so masked answers need no key at all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import unicodedata
from datetime import date

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from grid.errors import InvalidInput

#: GB 11643-1999 check digit: weights of the first 17 digits and the check character by sum mod 11.
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
#: Chinese mainland mobile numbers: 11 digits beginning 13–19 (MIIT numbering plan).
MOBILE = re.compile(r"1[3-9]\d{9}")
CIPHER_PREFIX = "v1:"

NO_KEY = (
    "未设置个人信息密钥，拒绝保存个人信息 GRID_PII_KEY is not set: personal data (ID numbers, "
    "phones) is never stored unprotected. Create a key with `grid residents keygen` and set "
    "GRID_PII_KEY"
)


# -- validation -------------------------------------------------------------------------------


def id_check_digit(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits of an ID number."""
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def normalize_id(raw: str) -> str:
    """An ID number cleaned of spaces and full-width characters, upper-case X; or InvalidInput
    naming what is wrong (length, characters, birth date, check digit)."""
    value = unicodedata.normalize("NFKC", str(raw)).strip().replace(" ", "").upper()
    if not value:
        raise InvalidInput("缺少身份证号 ID number missing")
    if len(value) == 15 and value.isdigit():
        raise InvalidInput("15 位旧身份证号请换成 18 位 old 15-digit ID: give the 18-digit one")
    if len(value) != 18 or not value[:17].isdigit() or value[17] not in "0123456789X":
        raise InvalidInput(
            f"身份证号应为 17 位数字加校验位 ID number must be 17 digits and a check character, "
            f"got {len(value)} characters"
        )
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidInput("身份证号中的出生日期无效 ID number holds no valid birth date") from None
    if born > date.today() or born.year < 1900:
        raise InvalidInput("身份证号中的出生日期不合理 ID number's birth date is out of range")
    if id_check_digit(value[:17]) != value[17]:
        raise InvalidInput("身份证号校验位错误 ID number check digit is wrong (GB 11643)")
    return value


def normalize_phone(raw: str) -> str:
    """A mobile number as 11 digits (spaces, dashes, +86 removed), or InvalidInput."""
    value = re.sub(r"[\s\-()]", "", unicodedata.normalize("NFKC", str(raw)))
    value = value.removeprefix("+86").removeprefix("0086")
    if value.startswith("86") and len(value) == 13:
        value = value[2:]
    if not MOBILE.fullmatch(value):
        raise InvalidInput(f"手机号无效 not a mobile number: '{raw}' (11 digits, 13x–19x)")
    return value


def mask_id(value: str) -> str:
    """110105********1234: region and last four kept, birth date and sequence hidden."""
    return value[:6] + "*" * (len(value) - 10) + value[-4:] if len(value) > 10 else "*" * len(value)


def mask_phone(value: str) -> str:
    """138****5678."""
    return value[:3] + "****" + value[-4:] if len(value) >= 8 else "*" * len(value)


def mask_name(value: str) -> str:
    """张** — the family name only (for callers who may not see who lives where)."""
    return value[:1] + "*" * max(len(value) - 1, 1) if value else value


# -- protection -------------------------------------------------------------------------------


def generate_key() -> str:
    """A fresh random key for ``GRID_PII_KEY`` (urlsafe base64 of 32 bytes, as Fernet's)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


class Protector:
    """Encrypts, decrypts and keys personal data with one secret from settings."""

    def __init__(self, key: str | None) -> None:
        if not key:
            raise InvalidInput(NO_KEY)
        try:
            secret = base64.urlsafe_b64decode(key.encode())
        except (binascii.Error, ValueError):
            secret = b""
        if len(secret) != 32:
            raise InvalidInput(
                "GRID_PII_KEY 格式错误 must be urlsafe base64 of 32 bytes "
                "(make one with `grid residents keygen`)"
            )
        # Two independent keys from one secret, so the HMAC never reuses the cipher's key.
        material = HKDF(algorithm=hashes.SHA256(), length=64, salt=None,
                        info=b"grid-governance pii v1").derive(secret)
        self._aead = AESGCM(material[:32])
        self._mac_key = material[32:]

    def encrypt(self, value: str, field: str) -> str:
        """Ciphertext text for ``value``; ``field`` is bound in as associated data so a phone's
        ciphertext cannot be passed off as an ID number's."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode(), field.encode())
        return CIPHER_PREFIX + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, field: str) -> str:
        """The plaintext of ``encrypt``'s output, or InvalidInput when the key is wrong."""
        raw = base64.b64decode(token.removeprefix(CIPHER_PREFIX))
        try:
            return self._aead.decrypt(raw[:12], raw[12:], field.encode()).decode()
        except InvalidTag:
            raise InvalidInput(
                "个人信息无法解密 personal data cannot be decrypted: GRID_PII_KEY differs from "
                "the key it was stored with"
            ) from None

    def fingerprint(self, id_number: str) -> str:
        """Keyed HMAC-SHA256 of a normalised ID number (hex), for duplicate checks and lookup."""
        return hmac.new(self._mac_key, id_number.encode(), hashlib.sha256).hexdigest()
