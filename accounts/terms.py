"""Terms of use: the current version, whether a person accepted it, and recording acceptance.

The seven items follow the recurrence-prevention measures (再発防止策④ 利用ルールの明確化). The
administrator drafts, previews and publishes new versions in the console (`terms_draft_save`,
`terms_publish`, each recorded). A new version takes effect at each person's next request: the gate
compares the accepted version kept in the session with the newest published one (one indexed query).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import TermsAcceptance, TermsVersion, User
from audit.events import record_event
from renergy.client_ip import client_ip

SESSION_KEY = "terms_accepted_version_id"

TERMS_V1_TITLE = "再エネ業務管理システム利用規約"
TERMS_V1_JA = """\
本システムの利用者は、次の事項を遵守することに同意します。

1. 目的外利用・公開・第三者への情報提供の禁止
   本システムで取得した情報を、付与された業務の目的以外に利用し、公開し、又は第三者（同一企業グループの小売電気事業者を含む）に提供してはなりません。
2. 法令又は公序良俗に違反し、もしくは犯罪行為に関連し、またはそのおそれがある行為の禁止
3. 不正な目的をもってアクセスをし、利用し又はこれらを試みる行為の禁止
4. 認定事業者その他の第三者に損害を与える行為の禁止
5. 第三者へのアカウントの供与の禁止、アカウント情報の取扱い厳重注意
   アカウントは本人1名のみが利用します。パスワード及び認証アプリを他者と共有せず、人事異動の際は速やかに利用責任者へ届け出てください。
6. 個人情報の取扱い
   本システムの情報には個人情報が含まれます。個人情報の保護に関する法律及び所属組織の規程に従い、必要最小限の範囲で取り扱ってください。すべての操作は記録され、定期的に点検されます。
7. 禁止事項に違反した場合の対応
   違反が認められた場合、アカウントの停止・廃止、所属組織への通知、損害賠償請求その他の措置を行うことがあります。
"""
TERMS_V1_EN = """\
Users of this system agree to observe the following.

1. No use for any other purpose, no publication, no disclosure to third parties
   Information obtained here must not be used outside the duties it was granted for, published, or given to any third
   party (including retail electricity companies of the same group).
2. No act that violates laws or public order, or that relates to or may relate to a crime
3. No access, use or attempt with a wrongful purpose
4. No act that harms certified operators or other third parties
5. No lending of the account to anyone; strict care with account information
   The account is used by its holder alone. Do not share the password or the authenticator app; report a change of
   post to your responsibility officer at once.
6. Handling of personal information
   The data includes personal information. Handle it to the minimum necessary, under the Act on the Protection of
   Personal Information and your organisation's rules. Every operation is recorded and inspected periodically.
7. Measures on violation
   Violations may lead to suspension or retirement of the account, notice to your organisation, claims for damages and
   other measures.
"""


def terms_current() -> TermsVersion:
    """The newest published version; the first version is created on first use so a fresh database is never open."""
    current = TermsVersion.objects.filter(published_at__lte=timezone.now()).order_by("-version").first()
    if current is None:
        current, _created = TermsVersion.objects.get_or_create(
            version=1, defaults={"title": TERMS_V1_TITLE, "body_ja": TERMS_V1_JA, "body_en": TERMS_V1_EN}
        )
    return current


def terms_current_id() -> int:
    current_id = (
        TermsVersion.objects.filter(published_at__lte=timezone.now())
        .order_by("-version")
        .values_list("id", flat=True)
        .first()
    )
    return current_id if current_id is not None else terms_current().pk


def terms_accepted_in_session(request: HttpRequest) -> bool:
    accepted = request.session.get(SESSION_KEY)
    return accepted is not None and accepted == terms_current_id()


def terms_remember_in_session(request: HttpRequest, user: User) -> None:
    """At sign-in: note the newest version this person accepted, so the gate needs no acceptance query."""
    current = terms_current()
    if TermsAcceptance.objects.filter(user=user, terms=current).exists():
        request.session[SESSION_KEY] = current.pk
    else:
        request.session.pop(SESSION_KEY, None)


@transaction.atomic
def terms_accept(*, user: User, terms: TermsVersion, request: HttpRequest) -> TermsAcceptance:
    acceptance, created = TermsAcceptance.objects.get_or_create(
        user=user, terms=terms, defaults={"ip_address": client_ip(request)}
    )
    if created:
        record_event(
            action="terms.accepted", request=request, actor=user, target_user=user, data={"version": terms.version}
        )
    request.session[SESSION_KEY] = terms.pk
    return acceptance


# --- drafting and publishing (the administrator's console) ------------------------------------------------------


def _require_terms_admin(actor: User) -> None:
    from accounts.lifecycle import _require_admin

    _require_admin(actor)


@transaction.atomic
def terms_draft_save(
    *,
    actor: User,
    title: str,
    body_ja: str,
    body_en: str = "",
    draft: TermsVersion | None = None,
    request: HttpRequest | None = None,
) -> TermsVersion:
    """Create a draft, or change one. A published version is never changed: people accepted that text."""
    _require_terms_admin(actor)
    title, body_ja, body_en = title.strip(), body_ja.strip(), (body_en or "").strip()
    if not title or not body_ja:
        raise ValidationError(_("表題と日本語の本文を入力してください。"), code="required")
    if draft is None:
        draft = TermsVersion.objects.create(
            version=None, published_at=None, title=title, body_ja=body_ja, body_en=body_en
        )
        action = "terms.draft_created"
    else:
        draft = TermsVersion.objects.select_for_update().get(pk=draft.pk)
        if not draft.is_draft:
            raise ValidationError(_("施行済みの版は変更できません。新しい版を作成してください。"), code="published")
        draft.title, draft.body_ja, draft.body_en = title, body_ja, body_en
        draft.save(update_fields=["title", "body_ja", "body_en"])
        action = "terms.draft_changed"
    record_event(action=action, request=request, actor=actor, data={"draft": draft.pk, "title": title})
    return draft


@transaction.atomic
def terms_publish(*, draft: TermsVersion, actor: User, request: HttpRequest | None = None) -> TermsVersion:
    """The draft becomes the next version and takes effect now: every person accepts it at their next request."""
    _require_terms_admin(actor)
    # One publisher at a time: the next version number is read and taken under this lock.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('terms-publish'))")
    draft = TermsVersion.objects.select_for_update().get(pk=draft.pk)
    if not draft.is_draft:
        raise ValidationError(_("この版は既に施行されています。"), code="published")
    terms_current()  # a fresh database's first version exists before the next one is numbered
    latest = TermsVersion.objects.filter(version__isnull=False).aggregate(top=Max("version"))["top"] or 0
    draft.version = latest + 1
    draft.published_at = timezone.now()
    draft.save(update_fields=["version", "published_at"])
    record_event(
        action="terms.published",
        request=request,
        actor=actor,
        data={"draft": draft.pk, "version": draft.version, "title": draft.title},
    )
    return draft
