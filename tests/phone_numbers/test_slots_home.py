"""Phone-number slots have one home (`phone_numbers/slots.py`): no other module writes a slot
column, spells a slot column at run time, bulk-updates the phone table, or builds the
`phone_number.assignment_changed` payload. Publishing, rollback and agent deletion go through it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import callplane

PACKAGE = Path(callplane.__file__).parent
HOME = PACKAGE / "phone_numbers" / "slots.py"
SLOT_COLUMNS = {
    f"{slot}_{column}"
    for slot in ("inbound", "outbound")
    for column in ("agent_id", "agent_version_id", "version")
}
# The phone table as an UPDATE names it: the model, or its Table (`repository.NUMBERS`).
PHONE_TABLE = {"PhoneNumber", "PhoneNumber.__table__", "NUMBERS"}
# The action's name may also appear in the catalogue of audit actions (its description).
CATALOGUE = PACKAGE / "audit" / "actions.py"


def modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path != HOME and "migrations" not in path.parts:
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def offences(path: Path, tree: ast.Module) -> Iterator[str]:
    where = path.relative_to(PACKAGE)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and node.attr in SLOT_COLUMNS
        ):
            yield f"{where}:{node.lineno} writes .{node.attr}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name, args = node.func.id, node.args
            computed = len(args) > 1 and isinstance(args[1], ast.JoinedStr)
            if name in {"getattr", "setattr"} and computed:
                yield f"{where}:{node.lineno} {name} with a computed column name"
            if name == "update" and args and ast.unparse(args[0]) in PHONE_TABLE:
                yield f"{where}:{node.lineno} bulk-updates the phone table"
        if (
            isinstance(node, ast.Constant)
            and node.value == "phone_number.assignment_changed"
            and path != CATALOGUE
        ):
            yield f"{where}:{node.lineno} builds a phone_number.assignment_changed event"


def test_only_the_slots_module_writes_phone_number_slots() -> None:
    found = [offence for path, tree in modules() for offence in offences(path, tree)]
    assert found == []


def test_the_check_sees_the_slots_module_itself() -> None:
    """The rule would be vacuous if it could not recognize what the home itself does."""
    found = list(offences(HOME, ast.parse(HOME.read_text(encoding="utf-8"))))
    # The home writes slots with one UPDATE per (slot, value) (issue 15), not attribute-wise.
    assert any("bulk-updates the phone table" in offence for offence in found)
    assert any("assignment_changed" in offence for offence in found)
