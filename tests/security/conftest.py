"""The accounts cast (an enrolled person, the administrator, officers) for the attack reproductions."""

from __future__ import annotations

from tests.accounts.conftest import administrator, officer_a, officer_b, person  # noqa: F401
