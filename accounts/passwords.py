from __future__ import annotations

from django.core.exceptions import ValidationError
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
