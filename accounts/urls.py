from __future__ import annotations

from django.urls import path

from accounts.views import access_review, account, administrator, health, officer, onboarding, signin, webauthn

app_name = "accounts"

urlpatterns = [
    path("", account.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("login/", signin.login_password, name="login"),
    path("login/code/", signin.login_code, name="login_code"),
    path("login/key/begin/", webauthn.WebAuthnSignInBegin.as_view(), name="webauthn_signin_begin"),
    path("login/key/complete/", webauthn.WebAuthnSignInComplete.as_view(), name="webauthn_signin_complete"),
    path("webauthn/jsi18n/", webauthn.WebAuthnScriptCatalog.as_view(), name="webauthn_jsi18n"),
    path("logout/", signin.logout_view, name="logout"),
    path("activate/password/", onboarding.activate_password, name="activate_password"),
    path("activate/<str:token>/", onboarding.activate, name="activate"),
    path("onboarding/authenticator/", onboarding.onboarding_authenticator, name="onboarding_authenticator"),
    path("terms/", onboarding.terms, name="terms"),
    path("account/", account.account, name="account"),
    path("account/password/", account.password_change, name="password_change"),
    path("account/authenticator/", account.authenticator_reenrol, name="authenticator_reenrol"),
    path("account/recovery-codes/", account.recovery_codes, name="recovery_codes"),
    path("account/keys/add/", webauthn.webauthn_enrol, name="webauthn_enrol"),
    path("account/keys/add/begin/", webauthn.WebAuthnRegisterBegin.as_view(), name="webauthn_register_begin"),
    path("account/keys/add/complete/", webauthn.WebAuthnRegisterComplete.as_view(), name="webauthn_register_complete"),
    path("account/keys/<int:pk>/name/", webauthn.webauthn_rename_view, name="webauthn_rename"),
    path("account/keys/<int:pk>/remove/", webauthn.webauthn_remove_view, name="webauthn_remove"),
    path("account/sessions/end-others/", account.sessions_end_others_view, name="sessions_end_others"),
    path("officer/", officer.officer_console, name="officer_console"),
    path("officer/request/", officer.officer_request_account, name="officer_request"),
    path("officer/people/<int:pk>/<slug:action>/", officer.officer_person_action, name="officer_person_action"),
    path("officer/access-review/", access_review.officer_access_review, name="officer_access_review"),
    path(
        "officer/access-review/<int:pk>/<slug:action>/",
        access_review.officer_access_review_action,
        name="officer_access_review_action",
    ),
    path("manage/access-reviews/", access_review.admin_access_reviews, name="admin_access_reviews"),
    path("manage/access-reviews/<int:pk>/", access_review.admin_access_review, name="admin_access_review"),
    path(
        "manage/access-reviews/items/<int:pk>/<slug:action>/",
        access_review.admin_access_review_action,
        name="admin_access_review_action",
    ),
    path("manage/requests/", administrator.admin_requests, name="admin_requests"),
    path("manage/requests/<int:pk>/<slug:decision>/", administrator.admin_request_decide, name="admin_request_decide"),
    path("manage/organisations/", administrator.admin_organisations, name="admin_organisations"),
    path("manage/organisations/<int:pk>/", administrator.admin_organisation, name="admin_organisation"),
    path(
        "manage/organisations/<int:pk>/second-factor/",
        administrator.admin_organisation_second_factor,
        name="admin_organisation_second_factor",
    ),
    path("manage/accounts/", administrator.admin_accounts, name="admin_accounts"),
    path("manage/mail/", administrator.admin_outbox, name="admin_outbox"),
    path("manage/accounts/<int:pk>/", administrator.admin_account_detail, name="admin_account"),
    path("manage/accounts/<int:pk>/<slug:action>/", administrator.admin_account_action, name="admin_account_action"),
]
