"""The account page's "Set return date" / "Clear return date": a small POST form, through
accounts.services.returns (audited). Held to the permission that lets a person restore an
account (``accounts.activate_account``: portal admins and the help desk), since the date's only
effect is a restore on that day."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse

from accounts.models import Account
from accounts.services.errors import ServiceRefused
from accounts.services.returns import account_return_date_set
from governance.audit.record import Actor

PERMISSION = "accounts.activate_account"


class ReturnDateForm(forms.Form):
    return_on = forms.DateField(
        required=False,
        label="Return date",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="On that day the portal gives back what its policies took, and tells the person.",
    )
    reason = forms.CharField(max_length=500, label="Reason")
    clear = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean() or {}
        if not data.get("clear") and not data.get("return_on") and "return_on" not in self.errors:
            self.add_error("return_on", "Give the day the person comes back (or clear the return date).")
        return data


def may_set_return_date(request: HttpRequest) -> bool:
    return request.user.has_perm(PERMISSION)


def return_date_view(request: HttpRequest, object_id: str):
    """POST only: set or clear the account's return date, then back to the account page."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not may_set_return_date(request):
        raise PermissionDenied
    account = get_object_or_404(Account.objects.select_related("organization"), pk=object_id)
    page = reverse("admin:accounts_account_change", args=[account.pk])
    form = ReturnDateForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{error}" for errors in form.errors.values() for error in errors)
        messages.error(request, f"The return date was not changed: {problems}")
        return HttpResponseRedirect(page)
    return_on = None if form.cleaned_data["clear"] else form.cleaned_data["return_on"]
    try:
        account_return_date_set(
            account=account, return_on=return_on, actor=Actor.from_request(request), reason=form.cleaned_data["reason"]
        )
    except ServiceRefused as exc:
        messages.error(request, f"The return date was not changed: {exc}")
    else:
        if return_on is None:
            messages.success(request, f"{account} has no return date any more.")
        else:
            messages.success(
                request, f"{account} returns on {return_on:%Y-%m-%d}: what the portal took is given back that day."
            )
    return HttpResponseRedirect(page)
