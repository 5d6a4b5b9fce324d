"""The portal's admin site: Django's ``AdminSite`` with the portal's name, plus the places where
apps put what they add to other apps' admin pages.

Installed as the default site by :class:`governance.apps.PortalAdminConfig` (Django's documented
way: ``AdminConfig.default_site``), so ``admin.site`` and ``@admin.register`` are this site.

An app never patches another app's admin. It registers here, next to its ``@admin.register``s,
and the page that shows the contribution asks the site for it:

- :meth:`PortalAdminSite.register_index_panel`: a block on the admin index (the dashboard);
- :meth:`PortalAdminSite.register_page_section`: a table on a model's change page (policies adds
  its exemptions, enforcements and access requests to the account page);
- :meth:`PortalAdminSite.register_list_filter`: a sidebar filter on a model's list;
- :meth:`PortalAdminSite.register_menu_count`: a count beside a model's name in the menu and the
  index's app list ("Access requests (3 pending)").

This module knows no app: contributions are keyed by model and rendered by the page's own template.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib import admin
from django.http import HttpRequest


@dataclass(frozen=True)
class IndexPanel:
    """A block on the admin index, above the app list. ``context(request)`` returns what
    ``template`` reads as ``panel``, or None when this user may not see it (the panel is left out)."""

    name: str
    template: str
    context: Callable[[HttpRequest], object | None]


@dataclass(frozen=True)
class Cell:
    text: str
    url: str = ""


@dataclass(frozen=True)
class PageSection:
    """A table on a change page (``admin/accounts/account/page_section.html`` draws it)."""

    id: str
    title: str
    headers: tuple[str, ...]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)
    empty: str = "None."
    more_url: str = ""  # the full list elsewhere in the admin, when the table shows only the latest
    more_text: str = ""


# (request, object) -> a section, or None when this user may not see it.
SectionProvider = Callable[[HttpRequest, object], PageSection | None]
# request -> how many wait (0 or None: nothing shown).
MenuCount = Callable[[HttpRequest], int | None]


class PortalAdminSite(admin.AdminSite):
    site_header = "Atlassian governance portal"
    site_title = "Atlassian governance portal"
    index_title = "Governance portal dashboard"
    # No "View site": the portal has no public site worth a link from the admin (the request form
    # is reached from emails).
    site_url = None

    def __init__(self, name: str = "admin"):
        super().__init__(name)
        self._index_panels: dict[str, IndexPanel] = {}
        self._page_sections: dict[type, list[SectionProvider]] = {}
        self._list_filters: dict[type, list[type]] = {}
        self._menu_counts: dict[type, tuple[MenuCount, str]] = {}

    # -- registration (called by each app's admin module, like admin.site.register) -------------
    def register_index_panel(self, panel: IndexPanel) -> None:
        """Panels show in the order they were registered; registering a name again replaces it."""
        self._index_panels[panel.name] = panel

    def register_page_section(self, model: type, provider: SectionProvider) -> None:
        providers = self._page_sections.setdefault(model, [])
        if provider not in providers:
            providers.append(provider)

    def register_list_filter(self, model: type, filter_class: type) -> None:
        filters = self._list_filters.setdefault(model, [])
        if filter_class not in filters:
            filters.append(filter_class)

    def register_menu_count(self, model: type, count: MenuCount, *, word: str) -> None:
        """Show ``count(request)`` beside ``model``'s name in the menu, as "(n <word>)"."""
        self._menu_counts[model] = (count, word)

    # -- what the pages ask for ---------------------------------------------------------------------
    @property
    def index_panels(self) -> tuple[IndexPanel, ...]:
        return tuple(self._index_panels.values())

    def page_sections(self, request: HttpRequest, obj) -> list[PageSection]:
        sections = (provider(request, obj) for provider in self._page_sections.get(type(obj), ()))
        return [section for section in sections if section]

    def list_filters(self, model: type) -> tuple[type, ...]:
        return tuple(self._list_filters.get(model, ()))

    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
        for app in app_list:
            for entry in app["models"]:
                count, word = self._menu_counts.get(entry.get("model"), (None, ""))
                n = count(request) if count else None
                if n:
                    entry["name"] = f"{entry['name']} ({n} {word})"
        return app_list

    def index(self, request, extra_context=None):
        panels = []
        for panel in self._index_panels.values():
            data = panel.context(request)
            if data is not None:
                panels.append({"name": panel.name, "template": panel.template, "data": data})
        return super().index(request, extra_context={"index_panels": panels, **(extra_context or {})})


def portal_site() -> PortalAdminSite:
    """``admin.site``, typed as what it is: the portal's site (installed by PortalAdminConfig)."""
    assert isinstance(admin.site, PortalAdminSite)
    return admin.site
