"""Admin building blocks shared by every app: filters, paginators, mixins."""

from governance.admin_tools.readonly import ReadOnlyAdminMixin

__all__ = ["ReadOnlyAdminMixin"]
