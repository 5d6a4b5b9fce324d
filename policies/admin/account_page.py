"""What policies add to the account admin (registered on the portal's admin site by
``policies/admin/__init__.py``): the "exempted" sidebar filter, and on the account page the
exemptions that cover the account, its enforcements and its access requests, each for users who
may view them."""

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import Truncator

from accounts.admin.filters import ChoiceListFilter, request_now
from governance.admin_site import Cell, PageSection
from policies.engine import email_matches
from policies.models import AccessRequest, Enforcement, Exemption

LATEST = 20  # rows per section; the link under it lists them all


class ExemptedListFilter(ChoiceListFilter):
    title = "exempted from policies"
    parameters = ("exempted",)


def _when(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else "—"


def _filtered(changelist: str, account) -> str:
    return reverse(changelist) + f"?account__id__exact={account.pk}"


def exemptions_section(request, account) -> PageSection | None:
    """Unexpired exemptions naming the account, one of its groups, or a pattern its email matches."""
    if not request.user.has_perm("policies.view_exemption"):
        return None
    now = request_now(request)
    covering = (
        Exemption.objects.unexpired(now)
        .filter(organization_id=account.organization_id)
        .filter(Q(account=account) | Q(group__memberships__account=account) | ~Q(email_pattern=""))
        .select_related("group", "policy")
    )
    rows: list[tuple[Cell, ...]] = []
    for exemption in covering.distinct().order_by("-created_at", "-id"):
        if exemption.email_pattern and not email_matches(exemption.email_pattern, account.email):
            continue
        if exemption.account_id:
            by = "this account"
        elif exemption.group is not None:  # selected with the exemption: no query
            by = f"group {exemption.group.name}"
        else:
            by = f"email pattern {exemption.email_pattern}"
        url = reverse("admin:policies_exemption_change", args=[exemption.pk])
        rows.append(
            (
                Cell(exemption.get_kind_display(), url),
                Cell(by),
                Cell(str(exemption.policy) if exemption.policy_id else "every policy"),
                Cell(Truncator(exemption.reason).chars(120)),
                Cell(_when(exemption.expires_at) if exemption.expires_at else "never"),
            )
        )
    return PageSection(
        id="account-exemptions",
        title="Exemptions covering this account",
        headers=("Kind", "Through", "Policy", "Reason", "Expires"),
        rows=rows,
        empty="None: policies may act on this account (org admins and app accounts aside).",
    )


def enforcements_section(request, account) -> PageSection | None:
    if not request.user.has_perm("policies.view_enforcement"):
        return None
    latest = Enforcement.objects.filter(account=account).select_related("policy").order_by("-created_at", "-id")
    rows: list[tuple[Cell, ...]] = [
        (
            Cell(_when(e.created_at), reverse("admin:policies_enforcement_change", args=[e.pk])),
            Cell(str(e.policy)),
            Cell(e.action.replace("_", " ")),
            Cell(e.get_status_display()),
            Cell(_when(e.due_at)),
            Cell(_when(e.executed_at)),
        )
        for e in latest[:LATEST]
    ]
    return PageSection(
        id="account-enforcements",
        title=f"Enforcements (newest first, at most {LATEST})",
        headers=("Decided", "Policy", "Action", "Status", "Due", "Carried out"),
        rows=rows,
        empty="No policy has acted on or warned this account.",
        more_url=_filtered("admin:policies_enforcement_changelist", account),
        more_text="All enforcements of this account",
    )


def access_requests_section(request, account) -> PageSection | None:
    if not request.user.has_perm("policies.view_accessrequest"):
        return None
    latest = AccessRequest.objects.filter(account=account).select_related("decided_by").order_by("-created_at", "-id")
    rows: list[tuple[Cell, ...]] = [
        (
            Cell(_when(r.created_at), reverse("admin:policies_accessrequest_change", args=[r.pk])),
            Cell(r.get_kind_display()),
            Cell(r.get_status_display()),
            Cell(Truncator(r.decision_reason).chars(120) or "—"),
            Cell(str(r.decided_by) if r.decided_by_id else ("the portal" if r.decided_at else "—")),
        )
        for r in latest[:LATEST]
    ]
    return PageSection(
        id="account-access-requests",
        title=f"Access requests (newest first, at most {LATEST})",
        headers=("Asked", "Kind", "Status", "Decision", "Decided by"),
        rows=rows,
        empty="This account has not asked for access back.",
        more_url=_filtered("admin:policies_accessrequest_changelist", account),
        more_text="All access requests of this account",
    )


ACCOUNT_PAGE_SECTIONS = (exemptions_section, enforcements_section, access_requests_section)
