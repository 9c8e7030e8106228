"""Security keys and passkeys (WebAuthn) as a second factor beside TOTP, through django-otp-webauthn.

The plugin keeps each credential as a django-otp Device, runs both ceremonies through py_webauthn and ships
the browser script. This module adds what it leaves to the project: the organisation's policy (keys
required, device-bound keys only), names, removal, the addresses each key signed in from, and the events.

A key cannot be handed to a colleague the way a TOTP secret can: the private key stays in the
authenticator, and the browser only lets it answer this site (the relying party), so a phishing page that
relays the password gets no usable answer.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp_webauthn import exceptions, helpers
from django_otp_webauthn.models import WebAuthnCredential
from django_otp_webauthn.utils import rewrite_exceptions
from webauthn import base64url_to_bytes
from webauthn.helpers.structs import AttestationConveyancePreference

from accounts.models import User, WebAuthnCredentialUse
from audit.events import record_event
from renergy.client_ip import client_ip

NAME_MAX_LENGTH = 64


class SyncedPasskeyRefused(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_detail = gettext_lazy(
        "所属組織の方針により、他の端末に同期できるパスキーは登録できません。"
        "USB などで接続するセキュリティキー、またはこの端末だけに保存されるキーを使ってください。"
    )
    default_code = "synced_passkey_refused"


class WebAuthnHelper(helpers.WebAuthnHelper):
    """The plugin's py_webauthn wrapper with the organisation's policy applied at registration."""

    def get_attestation_conveyance_preference(self) -> AttestationConveyancePreference:
        # Where only device-bound keys count, ask the key to state its make and model (kept with the credential).
        user = self.request.user
        if user.is_authenticated and user.organisation.webauthn_device_bound_only:
            return AttestationConveyancePreference.DIRECT
        return AttestationConveyancePreference.NONE

    def create_credential(self, user: Any, response: Any, parsed_credential: Any, original_data: dict) -> Any:
        device = super().create_credential(user, response, parsed_credential, original_data)
        # Refused before it is saved: a synced passkey never becomes a device of someone who may not use it.
        if not user.organisation.accepts_webauthn_credential(
            backup_eligible=device.backup_eligible, backup_state=device.backup_state
        ):
            raise SyncedPasskeyRefused()
        count = WebAuthnCredential.objects.filter(user=user).count()
        device.name = _("セキュリティキー %(number)d") % {"number": count + 1}
        device.confirmed = True
        return device


def webauthn_credentials(user: User) -> QuerySet[WebAuthnCredential]:
    """The person's keys, oldest first, with their attestation (for the account page)."""
    return (
        WebAuthnCredential.objects.filter(user=user, confirmed=True)
        .select_related("attestation")
        .order_by("created_at", "pk")
    )


def webauthn_usable_credentials(user: User) -> QuerySet[WebAuthnCredential]:
    """The keys the organisation's policy accepts for signing in."""
    credentials = WebAuthnCredential.objects.filter(user=user, confirmed=True)
    if user.organisation.webauthn_device_bound_only:
        credentials = credentials.filter(backup_eligible=False, backup_state=False)
    return credentials


def webauthn_replaces_totp(user: User) -> bool:
    """Where keys are required, the authenticator app stops working as soon as the person holds a usable key."""
    return user.organisation.requires_webauthn and webauthn_usable_credentials(user).exists()


def webauthn_enrolment_due(user: User) -> bool:
    """The organisation requires a key and the person has none it accepts: they are led to enrol one."""
    return user.organisation.requires_webauthn and not webauthn_usable_credentials(user).exists()


def webauthn_credential_facts(device: WebAuthnCredential) -> dict[str, Any]:
    """What the trail keeps about a credential: identifiers and flags, never the public key or raw id."""
    attestation = getattr(device, "attestation", None)
    return {
        "device": device.persistent_id,
        "credential_id_sha256": device.credential_id_sha256,
        "aaguid": device.aaguid,
        "backup_eligible": device.backup_eligible,
        "backup_state": device.backup_state,
        "attestation": attestation.fmt if attestation is not None else None,
        "transports": list(device.transports or []),
    }


def webauthn_presented(data: Any) -> dict[str, Any]:
    """Which credential a failed sign-in presented (hash of its id) and whose it is, if it is anyone's here.

    Someone else's key at this person's sign-in means two people share one password: the trail says so."""
    try:
        raw_id = base64url_to_bytes(str(data.get("rawId") or data.get("id") or ""))
    except (AttributeError, ValueError, TypeError):
        return {}
    if not raw_id:
        return {}
    digest = hashlib.sha256(raw_id).hexdigest()
    owner = WebAuthnCredential.objects.filter(credential_id_sha256=digest).values_list("user_id", flat=True).first()
    return {"credential_id_sha256": digest, "credential_owner": owner}


def webauthn_enrol_complete(*, request: HttpRequest, user: User, state: dict, data: Any) -> WebAuthnCredential:
    """Verify the new credential against the challenge of this session and keep it, with the address it came from."""
    helper = WebAuthnCredential.get_webauthn_helper(request=request)
    try:
        with transaction.atomic(), rewrite_exceptions(logger=None):
            device = helper.register_complete(user=user, state=state, data=_as_dict(data))
            WebAuthnCredentialUse.objects.create(credential=device, ip_address=client_ip(request))
    except exceptions.OTPWebAuthnApiError as error:
        refused = isinstance(error, SyncedPasskeyRefused)
        record_event(
            action="mfa.webauthn_enrol_refused" if refused else "mfa.webauthn_enrol_failed",
            request=request,
            actor=user,
            target_user=user,
            data={"reason": error.code},
        )
        raise
    record_event(
        action="mfa.webauthn_enrolled",
        request=request,
        actor=user,
        target_user=user,
        data={**webauthn_credential_facts(device), "name": device.name},
    )
    return device


def _as_dict(data: Any) -> dict:
    # The plugin parses JSON bodies into a dict; a form-encoded body arrives as a QueryDict it cannot verify.
    if isinstance(data, dict):
        return data
    raise exceptions.MalformedRequest()


def webauthn_rename(*, user: User, credential: WebAuthnCredential, name: str, request: HttpRequest) -> None:
    name = " ".join(name.split())[:NAME_MAX_LENGTH]
    if not name or credential.user_id != user.pk:
        return
    before = credential.name
    WebAuthnCredential.objects.filter(pk=credential.pk, user=user).update(name=name)
    record_event(
        action="mfa.webauthn_renamed",
        request=request,
        actor=user,
        target_user=user,
        data={"device": credential.persistent_id, "before": before, "after": name},
    )


@transaction.atomic
def webauthn_remove(*, user: User, credential: WebAuthnCredential, request: HttpRequest) -> None:
    """Remove one of the person's own keys. A session signed in with it is no longer verified and ends."""
    facts = webauthn_credential_facts(credential)
    deleted, _detail = WebAuthnCredential.objects.filter(pk=credential.pk, user=user).delete()
    if deleted:
        record_event(
            action="mfa.webauthn_removed",
            request=request,
            actor=user,
            target_user=user,
            data={**facts, "name": credential.name},
        )


def webauthn_note_use(*, request: HttpRequest, user: User, device: WebAuthnCredential) -> bool:
    """Remember the address a key signed in from; True (and an event) when the key had never been used from it."""
    ip = client_ip(request)
    now = timezone.now()
    if WebAuthnCredentialUse.objects.filter(credential=device, ip_address=ip).update(last_used_at=now):
        return False
    try:
        with transaction.atomic():
            WebAuthnCredentialUse.objects.create(credential=device, ip_address=ip, first_used_at=now, last_used_at=now)
    except IntegrityError:
        return False  # a parallel sign-in from the same address recorded it first
    record_event(
        action="auth.webauthn_new_ip",
        request=request,
        actor=user,
        target_user=user,
        data={"device": device.persistent_id, "credential_id_sha256": device.credential_id_sha256, "ip": ip},
    )
    return True
