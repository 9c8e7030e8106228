"""Terms of use drafted, previewed and published by the administrator in the console; officers told of decisions."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from accounts.lifecycle import account_request_approve, account_request_create, account_request_reject
from accounts.models import OutboundEmail, TermsVersion
from accounts.terms import terms_current, terms_draft_save, terms_publish
from audit.models import SecurityEvent

pytestmark = pytest.mark.django_db

TERMS = reverse("accounts:admin_terms")
NEW = reverse("accounts:admin_terms_new")


def test_the_administrator_drafts_previews_and_publishes_new_terms(administrator, person, signed_in_client) -> None:
    before = terms_current()
    reader = signed_in_client(person)
    client = signed_in_client(administrator)
    assert client.get(TERMS).status_code == 200
    assert before.body_ja[:20] in client.get(NEW).content.decode()  # the draft starts from the current text

    text = {"title": "利用規約（改定）", "body_ja": "8. 都度承認の遵守", "body_en": "8. Per-use approval"}
    saved = client.post(NEW, text)
    draft = TermsVersion.objects.get(title="利用規約（改定）")
    assert saved.status_code == 302 and saved.url == reverse("accounts:admin_terms_preview", args=[draft.pk])
    assert draft.is_draft and draft.version is None
    # A draft changes nothing for anyone.
    assert terms_current() == before
    assert reader.get(reverse("accounts:home")).status_code == 200

    preview = client.get(reverse("accounts:admin_terms_preview", args=[draft.pk])).content.decode()
    assert "8. 都度承認の遵守" in preview and "8. Per-use approval" in preview

    assert client.post(reverse("accounts:admin_terms_publish", args=[draft.pk])).status_code == 302
    draft.refresh_from_db()
    assert before.version is not None
    assert draft.version == before.version + 1 and draft.published_at is not None
    assert terms_current() == draft
    # Everyone accepts the new version at their next request.
    response = reader.get(reverse("accounts:home"))
    assert response.status_code == 302 and response.url.startswith(reverse("accounts:terms"))
    actions = list(
        SecurityEvent.objects.filter(actor=administrator, action__startswith="terms.").values_list("action", flat=True)
    )
    assert sorted(actions) == ["terms.draft_created", "terms.published"]


def test_a_draft_can_be_changed_until_it_is_published(administrator, signed_in_client) -> None:
    client = signed_in_client(administrator)
    draft = terms_draft_save(actor=administrator, title="案", body_ja="第一案")
    edit = reverse("accounts:admin_terms_edit", args=[draft.pk])
    client.post(edit, {"title": "案", "body_ja": "第二案"})
    draft.refresh_from_db()
    assert draft.body_ja == "第二案"
    terms_publish(draft=draft, actor=administrator)
    client.post(edit, {"title": "案", "body_ja": "施行後の書き換え"})
    draft.refresh_from_db()
    assert draft.body_ja == "第二案"
    with pytest.raises(ValidationError):
        terms_draft_save(actor=administrator, draft=draft, title="案", body_ja="施行後の書き換え")
    with pytest.raises(ValidationError):
        terms_publish(draft=draft, actor=administrator)


def test_a_published_version_is_not_editable_in_the_django_admin_either(administrator, signed_in_client) -> None:
    administrator.is_staff = True
    administrator.save()
    current = terms_current()
    client = signed_in_client(administrator)
    response = client.post(
        reverse("admin:accounts_termsversion_change", args=[current.pk]),
        {"version": current.version, "title": "x", "body_ja": "書き換え", "published_at_0": "2026-01-01"},
    )
    assert response.status_code in (302, 403)
    current.refresh_from_db()
    assert current.body_ja != "書き換え"
    assert client.get(reverse("admin:accounts_termsversion_add")).status_code == 403


def test_only_the_administrator_drafts_or_publishes_terms(officer_a, person, signed_in_client) -> None:
    draft = TermsVersion.objects.create(version=None, published_at=None, title="案", body_ja="案")
    for user in (officer_a, person):
        client = signed_in_client(user)
        assert client.get(TERMS).status_code == 403
        assert client.post(NEW, {"title": "x", "body_ja": "x"}).status_code == 403
        assert client.post(reverse("accounts:admin_terms_publish", args=[draft.pk])).status_code == 403
        with pytest.raises(PermissionDenied):
            terms_publish(draft=draft, actor=user)
    draft.refresh_from_db()
    assert draft.is_draft


def test_the_officer_is_told_when_their_request_is_approved(officer_a, administrator) -> None:
    account_request = account_request_create(officer=officer_a, email="new@example.jp", name="新人", reason="配属")
    account_request_approve(account_request=account_request, actor=administrator)
    mail = OutboundEmail.objects.get(kind="request_approved")
    assert mail.recipient == officer_a.email
    assert mail.context["email"] == "new@example.jp"


def test_the_officer_is_told_why_their_request_was_rejected(officer_a, administrator, signed_in_client) -> None:
    account_request = account_request_create(officer=officer_a, email="new@example.jp", name="新人", reason="配属")
    signed_in_client(administrator).post(
        reverse("accounts:admin_request_decide", args=[account_request.pk, "reject"]), {"reason": "所属の確認不可"}
    )
    mail = OutboundEmail.objects.get(kind="request_rejected")
    assert mail.recipient == officer_a.email
    assert mail.context["reason"] == "所属の確認不可"
    assert not OutboundEmail.objects.filter(kind="request_approved").exists()
    account_request.refresh_from_db()
    with pytest.raises(ValidationError):
        account_request_reject(account_request=account_request, actor=administrator, reason="二度目")
