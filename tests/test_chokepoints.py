"""The reads that decide who sees what go through one door each, and this test walks the code to keep it so.

- Facilities: `Facility.objects.visible_to(user)` for lists, `get_visible_facility_or_404(user, ...)` for one.
- People: `User.objects.managed_by(actor)`.
- The audit trail: `AccessRecord.objects.visible_to(user)`, `SecurityEvent.objects.visible_to(user)`.

Any other use of these models' managers (`.objects`, `._default_manager`, `._base_manager`), or the model class
handed to `get_object_or_404` / `get_list_or_404`, fails here with the place, unless the module is allow-listed
below with the reason it reads as the system rather than on someone's behalf.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("accounts", "audit", "certifications", "renergy", "tools")
MANAGERS = {"objects", "_default_manager", "_base_manager"}
SHORTCUTS = {"get_object_or_404", "get_list_or_404"}


@dataclass(frozen=True)
class Door:
    method: str  # the scoped entry every read on someone's behalf must start with ("" when there is none)
    use: str  # what the failure message tells the author to call instead


FACILITY = Door("visible_to", "Facility.objects.visible_to(user) or get_visible_facility_or_404(user, facility_id)")
PEOPLE = Door("managed_by", "User.objects.managed_by(actor)")
TRAIL = Door("visible_to", "<record>.objects.visible_to(user)")

GUARDED: dict[str, Door] = {
    "Facility": FACILITY,
    "FacilitySite": Door("", "the sites of a facility already read through Facility.objects.visible_to(user)"),
    "User": PEOPLE,
    "AccessRecord": TRAIL,
    "SecurityEvent": TRAIL,
}

# module -> model -> why this module may read every row of that model
ALLOWED: dict[str, dict[str, str]] = {
    "certifications/policy.py": {"FacilitySite": "the jurisdiction scope is a subquery on the sites"},
    "certifications/selectors.py": {
        "Facility": "after the scoped read refused an ID, records whether it exists at all (for the audit)",
        "FacilitySite": "the sites of the one facility the scoped read just returned",
    },
    "certifications/importers.py": {
        "Facility": "writes the agency's register from its files",
        "FacilitySite": "writes the agency's register from its files",
    },
    "certifications/services.py": {"Facility": "the service behind a change the view authorised (row lock)"},
    "accounts/lifecycle.py": {
        "User": "the services check the actor's right themselves (_require_*) before they write",
        "SecurityEvent": "the lockout's addresses, for the administrator's unlock",
    },
    "accounts/sessions.py": {"User": "the signed-in person's own row (security stamp)"},
    "accounts/access_review.py": {
        "User": "the scheduled review lists, notifies and suspends each organisation's people as the system",
    },
    "accounts/use_policy.py": {"User": "a person's request notifies the officers of their own organisation"},
    "accounts/authentication.py": {"User": "sign-in finds the person who passed the password step"},
    "accounts/demo.py": {"User": "demonstration data"},
    "audit/demo.py": {"User": "demonstration data"},
    "audit/report.py": {
        "User": "the fiscal-year report names the people in findings (the administrator's report)",
        "AccessRecord": "the fiscal-year report reads the whole year",
        "SecurityEvent": "the fiscal-year report reads the whole year",
    },
}


@dataclass(frozen=True)
class Breach:
    where: str
    model: str
    how: str

    def message(self) -> str:
        door = GUARDED[self.model]
        return (
            f"{self.where}: reads {self.model} through `{self.how}`, outside its scoped door. "
            f"Use {door.use}; or, if this module reads every row as the system (not on someone's behalf), "
            f"add it to ALLOWED in tests/test_chokepoints.py with the reason."
        )


def _model_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _breaches(path: Path, module: str | None = None, allowed: dict[str, str] | None = None) -> list[Breach]:
    module = module or path.relative_to(ROOT).as_posix()
    allowed = ALLOWED.get(module, {}) if allowed is None else allowed
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=module)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in MANAGERS:
            model = _model_name(node.value)
            if model not in GUARDED or model in allowed:
                continue
            parent = parents.get(node)
            method = parent.attr if isinstance(parent, ast.Attribute) else ""
            if GUARDED[model].method and method == GUARDED[model].method:
                continue
            found.append(Breach(f"{module}:{node.lineno}", model, f"{model}.{node.attr}.{method}".rstrip(".")))
        elif isinstance(node, ast.Call) and _model_name(node.func) in SHORTCUTS and node.args:
            model = _model_name(node.args[0])
            if model in GUARDED and model not in allowed and isinstance(node.args[0], ast.Name | ast.Attribute):
                found.append(Breach(f"{module}:{node.lineno}", model, f"{_model_name(node.func)}({model}, ...)"))
    return sorted(found, key=lambda breach: int(breach.where.rsplit(":", 1)[1]))


def _sources() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and path.is_file()
    )


def test_facilities_people_and_the_audit_trail_are_read_only_through_their_scoped_doors() -> None:
    breaches = [breach for path in _sources() for breach in _breaches(path)]
    assert not breaches, "\n".join(breach.message() for breach in breaches)


def test_the_walk_names_a_direct_read_and_where_it_is(tmp_path: Path) -> None:
    """The check itself: an unscoped read in a module that is not allow-listed is reported with its line."""
    source = tmp_path / "probe.py"
    source.write_text(
        "from certifications.models import Facility\n"
        "from accounts.models import User\n"
        "from django.shortcuts import get_object_or_404\n"
        "rows = Facility.objects.filter(pk=1)\n"
        "ok = Facility.objects.visible_to(None)\n"
        "person = get_object_or_404(User, pk=1)\n"
        "scoped = get_object_or_404(User.objects.managed_by(None), pk=1)\n",
        encoding="utf-8",
    )
    breaches = _breaches(source, "certifications/probe.py")
    assert [(b.where, b.how) for b in breaches] == [
        ("certifications/probe.py:4", "Facility.objects.filter"),
        ("certifications/probe.py:6", "get_object_or_404(User, ...)"),
    ]
    assert "Facility.objects.visible_to(user)" in breaches[0].message()


def test_every_allow_listed_module_still_exists_and_still_needs_its_exception() -> None:
    """An exception nobody uses any more is removed, so the list stays the few places that read everything."""
    unused = []
    for module, models in ALLOWED.items():
        path = ROOT / module
        assert path.is_file(), f"{module} is allow-listed in tests/test_chokepoints.py but does not exist"
        read = {breach.model for breach in _breaches(path, module, allowed={})}
        unused += [f"{module}: {model}" for model in models if model not in read]
    assert not unused, "allow-listed without an unscoped read (remove from ALLOWED): " + ", ".join(unused)
