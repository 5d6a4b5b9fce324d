"""The account list's sidebar filters. Each one only reads its query-string parameters and hands
them to :class:`accounts.filtersets.AccountFilterSet`, so the admin and the API cannot disagree."""

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.urls import reverse
from django.utils import timezone

from accounts.filtersets import AccountFilterSet
from accounts.models import Product

PRODUCT_INACTIVE_DAYS_CHOICES = (30, 90, 180, 365)


def request_now(request):
    """One "now" per request, so every filter and column of a page measures from the same instant."""
    if not hasattr(request, "_accounts_now"):
        request._accounts_now = timezone.now()
    return request._accounts_now


def bound_filterset(request, data: dict) -> AccountFilterSet:
    """A validated filter set for ``data``; bad input becomes an admin error message, not a silent no-op."""
    filterset = AccountFilterSet(data, now=request_now(request), request=request)
    if not filterset.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in filterset.errors.items())
        messages.error(request, f"The filter was not applied. {problems}")
        raise IncorrectLookupParameters(problems)
    return filterset


def filterset_choices(name: str) -> list[tuple[str, str]]:
    return [(str(value), str(label)) for value, label in AccountFilterSet.all_filters()[name].extra["choices"]]


class FilterSetListFilter(admin.ListFilter):
    """Takes ``parameters`` out of the query string and filters through AccountFilterSet."""

    parameters: tuple[str, ...] = ()

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.parameters:
            if name in params:
                self.used_parameters[name] = params.pop(name)[-1]
        self.filterset = bound_filterset(request, self.used_parameters) if self.used_parameters else None

    def has_output(self):
        return True

    def expected_parameters(self):
        return list(self.parameters)

    def queryset(self, request, queryset):
        if self.filterset is None:
            return queryset
        return self.filterset.filter_queryset(queryset)


class ChoiceListFilter(FilterSetListFilter):
    """A one-parameter filter shown as links, its choices taken from the filter set."""

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.parameter = self.parameters[0]
        self.lookup_choices = filterset_choices(self.parameter)

    def choices(self, changelist):
        current = self.used_parameters.get(self.parameter)
        yield {
            "selected": current is None,
            "query_string": changelist.get_query_string(remove=[self.parameter]),
            "display": "All",
        }
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter: value}),
                "display": label,
            }


class StatusFilter(ChoiceListFilter):
    title = "status"
    parameters = ("status",)


class InactivityFilter(ChoiceListFilter):
    title = "last activity"
    parameters = ("inactivity",)


class ManagedFilter(ChoiceListFilter):
    title = "managed or external"
    parameters = ("managed",)


class AccountTypeFilter(ChoiceListFilter):
    title = "account type"
    parameters = ("account_type",)


class OrgAdminFilter(ChoiceListFilter):
    title = "org admin"
    parameters = ("is_org_admin",)


class BillableFilter(ChoiceListFilter):
    title = "billable"
    parameters = ("billable",)


class ProductFilter(FilterSetListFilter):
    """Has access to a product, optionally idle in it for more than N days."""

    title = "product"
    parameters = ("product", "product_inactive_days")
    template = "admin/accounts/account/filter_product.html"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.products = list(Product.objects.order_by("name", "key"))

    def choices(self, changelist):
        product = self.filterset.form.cleaned_data.get("product") if self.filterset else None
        days = self.used_parameters.get("product_inactive_days")
        yield {
            "products": [
                {
                    "display": "All",
                    "selected": product is None,
                    "query_string": changelist.get_query_string(remove=list(self.parameters)),
                },
                *(
                    {
                        "display": str(p),
                        "selected": product is not None and p.pk == product.pk,
                        "query_string": changelist.get_query_string(
                            {"product": p.pk}, remove=["product_inactive_days"]
                        ),
                    }
                    for p in self.products
                ),
            ],
            "days": [
                {
                    "display": "Any activity",
                    "selected": days is None,
                    "query_string": changelist.get_query_string(remove=["product_inactive_days"]),
                },
                *(
                    {
                        "display": f"Inactive over {n} days",
                        "selected": days == str(n),
                        "query_string": changelist.get_query_string({"product_inactive_days": n}),
                    }
                    for n in PRODUCT_INACTIVE_DAYS_CHOICES
                ),
            ]
            if product is not None
            else [],
        }


class GroupFilter(FilterSetListFilter):
    """Member (or not) of one group, picked by typing: a text box fed by the Group admin's
    autocomplete view, never a list of every group."""

    title = "group"
    parameters = ("group", "not_group")
    template = "admin/accounts/account/filter_group.html"

    def choices(self, changelist):
        cleaned = self.filterset.form.cleaned_data if self.filterset else {}
        member_of, not_member_of = cleaned.get("group"), cleaned.get("not_group")
        yield {
            "member_of": member_of,
            "not_member_of": not_member_of,
            "selected": member_of or not_member_of,
            "clear_url": changelist.get_query_string(remove=list(self.parameters)),
            "autocomplete_url": group_autocomplete_url(),
            "other_params": [
                (key, value)
                for key, values in changelist.filter_params.items()
                if key not in self.parameters
                for value in values
            ],
        }


def group_autocomplete_url() -> str:
    """The admin's own autocomplete view, answering from GroupAdmin's search (and permissions)."""
    return reverse("admin:autocomplete") + "?app_label=accounts&model_name=membership&field_name=group"


class AccessEndingFilter(FilterSetListFilter):
    """Accounts with access given until a date that ends soon (contractors and the like)."""

    title = "access ending"
    parameters = ("access_ending_within",)
    CHOICES = ((7, "in the next 7 days"), (30, "in the next 30 days"), (90, "in the next 90 days"))

    def choices(self, changelist):
        current = self.used_parameters.get("access_ending_within")
        yield {
            "selected": current is None,
            "query_string": changelist.get_query_string(remove=["access_ending_within"]),
            "display": "All",
        }
        for days, label in self.CHOICES:
            yield {
                "selected": current == str(days),
                "query_string": changelist.get_query_string({"access_ending_within": days}),
                "display": label,
            }
