"""Admin building blocks shared by every app: filters, paginators, mixins."""
