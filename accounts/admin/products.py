from django.contrib import admin

from accounts.models import Product
from governance.admin_tools import ReadOnlyAdminMixin


@admin.register(Product)
class ProductAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Products and their seats, as the last sync saw them. Read-only."""

    list_display = (
        "__str__",
        "key",
        "organization",
        "seats_used",
        "seats_total",
        "seats_free",
        "price_per_seat",
        "seats_synced_at",
    )
    list_filter = ("key",)
    list_select_related = ("organization",)
    search_fields = ("name", "key")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = None
    readonly_fields = [*(f.name for f in Product._meta.fields), "price_per_seat"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("seat_prices")

    @admin.display(description="price per seat per month")
    def price_per_seat(self, obj):
        # Set on the organization's page (seat prices are per organization).
        price = next(iter(obj.seat_prices.all()), None)
        return f"{price.monthly_price} {price.currency}" if price else "no price set"

    @admin.display(description="seats free")
    def seats_free(self, obj):
        if obj.seats_total is None or obj.seats_used is None:
            return None
        return max(obj.seats_total - obj.seats_used, 0)
