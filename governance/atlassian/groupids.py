"""The two spellings of an Atlassian group id, and the one the portal stores.

Atlassian's documents give a group's id in two forms (API.md 2.5, 2.8): a bare UUID in the group
search and group details (``"12345678-1234-…"``), and an ARI in a user's ``groups`` expansion
(``"ari:cloud:identity::group/12345678-1234-…"``). Jira only knows the bare UUID. Which form each
live endpoint really sends is UNCONFIRMED, so nothing may depend on it:

- the mirror stores one canonical form, the bare UUID (:func:`canonical_group_id`), and compares
  ids only in that form, so a membership read in one form finds the group listed in the other;
- a call that names a group in an Admin API path uses the form the group search gave
  (:func:`group_id_as`): "use the Get groups endpoint to get the id", as the documents say;
- Jira always gets the bare UUID.
"""

GROUP_ARI_PREFIX = "ari:cloud:identity::group/"
ARI, UUID = "ari", "uuid"
FORMS = (ARI, UUID)


def canonical_group_id(value: str) -> str:
    """The id the mirror stores: the bare UUID of an ARI, anything else unchanged."""
    return value[len(GROUP_ARI_PREFIX) :] if value.startswith(GROUP_ARI_PREFIX) else value


def group_id_form(value: str) -> str:
    """``ari`` for an identity group ARI, ``uuid`` for anything else (the bare id)."""
    return ARI if value.startswith(GROUP_ARI_PREFIX) else UUID


def group_id_as(value: str, form: str | None) -> str:
    """``value`` spelt in ``form``; with no known form, as given (the caller's own spelling)."""
    if form == ARI:
        return GROUP_ARI_PREFIX + canonical_group_id(value)
    if form == UUID:
        return canonical_group_id(value)
    return value
