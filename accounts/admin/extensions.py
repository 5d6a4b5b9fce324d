"""Where upper apps plug into the account admin without this app importing them (DESIGN.md 3).

policies adds, when its admin loads, the "exempted" sidebar filter (its condition is a filter of
AccountFilterSet: ``accounts.filtersets.add_filter``) and the account page's sections on the
exemptions that cover the account, its enforcements and its access requests.
"""

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cell:
    text: str
    url: str = ""


@dataclass(frozen=True)
class PageSection:
    """A table on the account page (``admin/accounts/account/page_section.html``)."""

    id: str
    title: str
    headers: tuple[str, ...]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)
    empty: str = "None."
    more_url: str = ""  # the full list elsewhere in the admin, when the table shows only the latest
    more_text: str = ""


# (request, account) -> a section, or None when this user may not see it.
SectionProvider = Callable[[object, object], PageSection | None]

list_filters: list[type] = []
page_sections: list[SectionProvider] = []


def add_list_filter(filter_class: type) -> None:
    if filter_class not in list_filters:
        list_filters.append(filter_class)


def add_page_section(provider: SectionProvider) -> None:
    if provider not in page_sections:
        page_sections.append(provider)


def sections_for(request, account) -> list[PageSection]:
    return [section for section in (provider(request, account) for provider in page_sections) if section]
