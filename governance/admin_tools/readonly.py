"""Read-only admin pages: for rows only the portal's own code writes (mirror, audit, runs, enforcements)."""


class ReadOnlyAdminMixin:
    """Nobody adds, changes or deletes here, not even a superuser; viewing follows the view permission.

    Put it before ``admin.ModelAdmin`` (or an inline) in the bases. ``obj`` is accepted on
    ``has_add_permission`` too, as inlines call it so.
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
