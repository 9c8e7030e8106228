"""The facilities every visibility test uses, and who must see which of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from certifications.models import OperatorKind
from certifications.policy import MASKS, POLICY
from tests.certifications.conftest import facility_create

# role name in the cast -> organisation attribute of tests.conftest.Cast
ROLES = (
    "agency",
    "bureau",
    "bureau_kinki",
    "designated",
    "contractor",
    "grid_tokyo",
    "grid_kansai",
    "tokyo_metro",
    "shinjuku",
    "operator_a",
    "operator_b",
)

SHINJUKU_A = "A000001B01"  # Tokyo area, Shinjuku, operator A
HACHIOJI_B = "A000002B02"  # Tokyo area, Hachioji (prefecture 13, not Shinjuku), operator B
OSAKA = "A000003B03"  # Kansai area, no account holder, operated by a private person
SAITAMA_WITH_SHINJUKU_SITE = "A000004B04"  # Tokyo area, Saitama, a second site in Shinjuku
SAPPORO_A = "A000005B05"  # Hokkaido area, operator A
EVERY_ID = (SHINJUKU_A, HACHIOJI_B, OSAKA, SAITAMA_WITH_SHINJUKU_SITE, SAPPORO_A)

EXPECTED: dict[str, frozenset[str]] = {
    "agency": frozenset(EVERY_ID),
    "bureau": frozenset(EVERY_ID),
    "bureau_kinki": frozenset({OSAKA}),  # confined to Fukui, Shiga, Kyoto, Osaka, Hyogo, Nara, Wakayama
    "designated": frozenset(EVERY_ID),
    "contractor": frozenset(),
    "grid_tokyo": frozenset({SHINJUKU_A, HACHIOJI_B, SAITAMA_WITH_SHINJUKU_SITE}),
    "grid_kansai": frozenset({OSAKA}),
    "tokyo_metro": frozenset({SHINJUKU_A, HACHIOJI_B, SAITAMA_WITH_SHINJUKU_SITE}),
    "shinjuku": frozenset({SHINJUKU_A, SAITAMA_WITH_SHINJUKU_SITE}),
    "operator_a": frozenset({SHINJUKU_A, SAPPORO_A}),
    "operator_b": frozenset({HACHIOJI_B}),
}


@dataclass
class World:
    orgs: Any
    users: dict[str, Any]


def world_create(orgs: Any, make_user: Any) -> World:
    facility_create(SHINJUKU_A, "東京都新宿区西新宿2-8-1", organisation=orgs.operator_a)
    facility_create(HACHIOJI_B, "東京都八王子市元本郷町3-24-1", organisation=orgs.operator_b)
    facility_create(OSAKA, "大阪府大阪市北区中之島1-3-20", operator_kind=OperatorKind.INDIVIDUAL)
    facility_create(
        SAITAMA_WITH_SHINJUKU_SITE, "埼玉県さいたま市浦和区高砂3-15-1", extra_sites=("東京都新宿区歌舞伎町1-1",)
    )
    facility_create(SAPPORO_A, "北海道札幌市中央区北1条西2", organisation=orgs.operator_a)
    return World(orgs=orgs, users={role: make_user(getattr(orgs, role)) for role in ROLES})


def allowed_for(role: str, orgs: Any) -> tuple[str, ...]:
    return POLICY[getattr(orgs, role).kind].fields if getattr(orgs, role).kind in POLICY else ()


# Facilities whose operator is a private person: their operator name is personal data (policy.MASKS).
INDIVIDUALS = frozenset({OSAKA})


def masked_for(role: str, orgs: Any) -> frozenset[str]:
    """Fields the role sees masked on INDIVIDUALS' facilities."""
    kind = getattr(orgs, role).kind
    if kind not in POLICY:
        return frozenset()
    policy = POLICY[kind]
    return frozenset(
        mask.field for mask in MASKS if mask.field in policy.fields and mask.unless_group not in policy.groups
    )
