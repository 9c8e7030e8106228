"""One cluster (tests/cluster/harness.py) for the tests in this folder (the replica tests start their own):
started once, stopped and dropped at the end. Skipped where HAProxy is not installed (`make system-deps`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import HAPROXY, Cluster
from tests.cluster.web import Person, demo_email

# Low enough that the tests reach them in a few dozen requests.
DETAIL_LIMIT = 25


@pytest.fixture(scope="package")
def cluster() -> Iterator[Cluster]:
    if not Path(HAPROXY).exists():
        pytest.skip("HAProxy is not installed (run `make system-deps`)")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("the cluster needs PostgreSQL (DATABASE_URL)")
    with Cluster(facilities=int(os.environ.get("CLUSTER_FACILITIES", "5000")),
                 env_extra={"FACILITY_DAILY_DETAIL_LIMIT": str(DETAIL_LIMIT)}) as running:  # fmt: skip
        yield running


@pytest.fixture(scope="package")
def signed_in(cluster: Cluster):
    """Callable: demo slug -> that demo person, signed in once per run through the proxy."""
    people: dict[str, Person] = {}

    def _get(slug: str) -> Person:
        if slug not in people:
            person = Person(cluster, demo_email(slug))
            person.sign_in()
            people[slug] = person
        return people[slug]

    yield _get
    for person in people.values():
        person.close()
