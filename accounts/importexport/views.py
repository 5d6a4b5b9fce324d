"""From an uploaded file to a preview: read, recognise, plan, and describe the plan for people.

Used by both steps of the admin's import (the preview after upload, and again at confirm, where
the plan is recomputed against the mirror as it is then); see :mod:`accounts.importexport.admin`.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from accounts.importexport.apply import ChangePlan, plan_changes
from accounts.importexport.formats import RowError, UploadRefused, read_csv, stream_csv
from accounts.importexport.seed import AccountChange, SeedPlan, plan_seed, show_day
from accounts.importexport.variants import Variant, detect, seed_records
from governance.heap import release_free_memory

CHANGES = "changes"
SEED = "seed"
SHOWN_ROWS = 500
SHOWN_ERRORS = 1000


@dataclass
class Preview:
    """What the preview page shows, and the plan behind it (None when the file was refused)."""

    kind: str
    file_name: str
    refused: str = ""
    variant: Variant | None = None
    plan: ChangePlan | SeedPlan | None = None
    mapping: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[RowError]:
        return self.plan.errors if self.plan else []

    @property
    def ok(self) -> bool:
        return not self.refused and self.plan is not None and not self.plan.errors

    @property
    def changes(self) -> int:
        if self.plan is None:
            return 0
        return len(self.plan.plans) if isinstance(self.plan, ChangePlan) else len(self.plan.changes)

    @property
    def warnings(self) -> list[RowError]:
        return getattr(self.plan, "warnings", []) if self.plan else []

    def shown_errors(self) -> list[str]:
        return [str(e) for e in self.errors[:SHOWN_ERRORS]]

    def more_errors(self) -> int:
        return max(0, len(self.errors) - SHOWN_ERRORS)

    @property
    def notes(self) -> list[RowError]:
        """Values of the file the import will not apply, row by row, and why (the mirror's are newer)."""
        return getattr(self.plan, "notes", []) if self.plan else []

    def shown_notes(self) -> list[str]:
        return [str(n) for n in self.notes[:SHOWN_ERRORS]]

    def more_notes(self) -> int:
        return max(0, len(self.notes) - SHOWN_ERRORS)

    @property
    def file_date(self) -> str:
        """The file's date and how it was found, for the preview ("" for the portal's CSV)."""
        plan = self.plan
        if not isinstance(plan, SeedPlan) or plan.as_of is None:
            return ""
        as_of = plan.as_of.astimezone(UTC)
        when = f"{as_of:%Y-%m-%d %H:%M} UTC" if as_of.time() != time(0) else show_day(as_of)
        return f"{when} ({plan.as_of_source})"

    def shown_warnings(self) -> list[str]:
        return [str(w) for w in self.warnings[:SHOWN_ERRORS]]

    def more_warnings(self) -> int:
        return max(0, len(self.warnings) - SHOWN_ERRORS)

    def counts(self) -> list[tuple[str, int]]:
        if self.plan is None:
            return []
        return [(name.replace("_", " "), value) for name, value in self.plan.counts().items()]

    def rows(self) -> list[tuple[int, str, list[str]]]:
        """(row, account, what changes) for the first rows that change something."""
        if isinstance(self.plan, ChangePlan):
            return [(p.row, p.label, p.describe()) for p in self.plan.plans[:SHOWN_ROWS]]
        if isinstance(self.plan, SeedPlan):
            return [(c.row, c.label, describe_seed_change(self.plan, c)) for c in self.plan.changes[:SHOWN_ROWS]]
        return []

    def more_rows(self) -> int:
        return max(0, self.changes - SHOWN_ROWS)

    def fingerprint(self) -> str:
        return self.plan.fingerprint() if self.plan else ""


def build_preview(
    *, data: bytes, file_name: str, kind: str, organization, user, exported_at: datetime | None = None
) -> Preview:
    """Read ``data`` and plan it for ``organization``; every problem ends up in the Preview.

    ``exported_at``: when Atlassian produced an export, if the uploader said (seed only).
    """
    preview = Preview(kind=kind, file_name=file_name)
    if kind == SEED:
        # The upload's copies (the request's, the temporary storage's round trip) were just freed: their
        # pages go back to the system before the plan's objects are laid over them (governance/heap.py).
        release_free_memory()
    try:
        # A seed reads the file's rows as it makes its records (never all of their cells at once);
        # the changes file is read whole.
        table, rows = stream_csv(data) if kind == SEED else (read_csv(data), None)
        preview.variant = detect(table.headers)
        _check_kind(kind, preview.variant)
        if kind == CHANGES and not organization.api_key():
            raise UploadRefused(
                f"{organization} has no Admin API key, so the portal cannot make changes in Atlassian. "
                "To load an Atlassian export into the mirror instead, choose “Atlassian admin CSV export”."
            )
    except UploadRefused as exc:
        preview.refused = str(exc)
        return preview
    if kind == CHANGES:
        preview.plan = plan_changes(organization=organization, table=table, user=user, file_name=file_name)
        preview.mapping = [(h, "applied in Atlassian") for h in preview.plan.columns]
        preview.ignored = preview.plan.ignored
    else:
        # The records hold what planning needs: the file's rows are read as the records are made,
        # and the records dropped as the plan is made, so that no two of them share the peak.
        try:
            parsed = seed_records(table, preview.variant, rows=rows)
        except UploadRefused as exc:  # too many rows, or not valid CSV past the header
            preview.refused = str(exc)
            return preview
        del table, rows
        preview.plan = plan_seed(
            organization=organization, parsed=parsed, file_name=file_name, exported_at=exported_at, consume=True
        )
        preview.mapping = [(c.header, c.describe()) for c in parsed.columns]
        preview.ignored = parsed.ignored
    return preview


def _check_kind(kind: str, variant: Variant) -> None:
    if kind == CHANGES and variant != Variant.PORTAL:
        raise UploadRefused(
            f"This file is an {variant.label}. Changes are imported from the portal's accounts CSV; to load "
            "this export into the mirror, choose “Atlassian admin CSV export” as what the file is."
        )
    if kind == SEED and variant == Variant.PORTAL:
        raise UploadRefused(
            "This file is the portal's accounts CSV, not an Atlassian export. To change memberships and "
            "statuses in Atlassian, choose “Account changes” as what the file is."
        )


def describe_seed_change(plan: SeedPlan, change: AccountChange) -> list[str]:
    lines = ["new account"] if change.pk is None else []
    for name, value in change.after.items():
        label = name.replace("_", " ")
        if change.pk is None:
            lines.append(f"{label}: {_show(value)}")
        else:
            lines.append(f"{label}: {_show(change.before.get(name))} → {_show(value)}")
    lines += [f"add to {plan.group_names.get(gid, gid)}" for gid in change.groups_added]
    lines += [f"remove from {name}" for _, _, name in change.memberships_removed]
    for rid, last in change.access_upserts.items():
        lines.append(f"{plan.product_names.get(rid, rid)}: last active {_show(last) if last else 'never'}")
    lines += [f"no longer has {plan.product_names.get(rid, rid)}" for _, rid in change.access_deleted]
    return lines


def _show(value) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat() if value.hour == value.minute == value.second == 0 else value.isoformat()
    if value is None or value == "":
        return "—"
    return str(value)
