"""Password rules beyond Django's validators: an upper bound, the person's own name and address, and expiry."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _


class MaximumLengthValidator:
    """Django ships no upper bound; one stops hashing megabyte 'passwords' (ASVS 6.2.9 asks for ≥ 64 allowed)."""

    def __init__(self, max_length: int = 256) -> None:
        self.max_length = max_length

    def validate(self, password: str, user: object = None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                _("パスワードは%(max)d文字以内にしてください。") % {"max": self.max_length},
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return _("パスワードは%(max)d文字以内です。") % {"max": self.max_length}


_SEPARATORS = re.compile(r"[\W_]+")


def _folded(text: str) -> str:
    """Width, case and kana folded, separators dropped: 'Ｙａｍａｄａ-Taro' → 'yamadataro', 'ヤマダ' → 'やまだ'."""
    text = unicodedata.normalize("NFKC", text).casefold()
    # Katakana (U+30A1..U+30F6) to hiragana, so a name registered in one is found in a password typed in the other.
    text = "".join(chr(ord(ch) - 0x60) if "\u30a1" <= ch <= "\u30f6" else ch for ch in text)
    return _SEPARATORS.sub("", text)


def _long_enough(word: str) -> bool:
    # Two kanji or kana already name a person (山田); two Latin letters are a syllable of anything.
    return len(word) >= (3 if word.isascii() else 2)


def personal_words(user: Any) -> set[str]:
    """The words of the person's own name and e-mail address that a password must not contain."""
    name = str(getattr(user, "name", "") or "")
    email = str(getattr(user, "email", "") or "")
    local = email.rsplit("@", 1)[0]
    parts = [part for part in re.split(r"\s+", unicodedata.normalize("NFKC", name)) if part]
    words = {*parts, "".join(parts), "".join(reversed(parts)), local, *_SEPARATORS.split(local)}
    return {word for word in map(_folded, words) if _long_enough(word)}


class PersonalInformationValidator:
    """Refuses a password that contains the person's name or e-mail local part (NIST SP 800-63B 5.1.1.2
    "context-specific words"), in either order of family and given name, in full- or half-width, in katakana
    or hiragana. Django's UserAttributeSimilarityValidator, which runs as well, only refuses passwords that are
    about as long as the attribute: 'yamadataro2026!' is not similar to 'Yamada Taro' by its measure, and a
    12-character password is never similar to a four-character kanji name."""

    def validate(self, password: str, user: object = None) -> None:
        if user is None:
            return
        folded = _folded(password)
        if any(word in folded for word in personal_words(user)):
            raise ValidationError(
                _("氏名やメールアドレスを含むパスワードは使えません。"), code="password_contains_personal_information"
            )

    def get_help_text(self) -> str:
        return _("氏名やメールアドレスを含むパスワードは使えません。")


def password_expires_at(user: Any) -> datetime | None:
    """When the person's password expires under their organisation's rule (None: it does not)."""
    days = user.organisation.password_max_age_days
    if not days:
        return None
    # A password set before its date was kept counts from the account's issue: unknown age is not a fresh one.
    since = user.password_changed_at or user.date_joined
    return since + timedelta(days=days)


def password_change_due(user: Any) -> bool:
    """Whether the person must change their password before anything else: an officer or the administrator asked
    for it, or it is older than their organisation allows."""
    if user.password_change_required:
        return True
    expires = password_expires_at(user)
    return expires is not None and expires <= timezone.now()
