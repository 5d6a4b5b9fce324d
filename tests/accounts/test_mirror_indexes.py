"""The mirror's two largest tables carry no index a composite one already leads with (issue 20, part 2).

Migration accounts 0011 drops the foreign keys' single-column indexes by name: a name that did not
match would drop nothing and silently keep the write cost, so the migrated schema is checked here.
"""

import pytest
from django.db import connection

from accounts.models import Membership, ProductAccess

pytestmark = pytest.mark.django_db


def _indexes(model) -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {name: c["columns"] for name, c in constraints.items() if c["index"] or c["unique"]}


@pytest.mark.parametrize(
    ("model", "leading"),
    [(Membership, {"account_id": "group_id", "group_id": "account_id"}), (ProductAccess, {"account_id": "product_id"})],
)
def test_no_single_column_index_duplicates_the_lead_of_a_composite_one(model, leading):
    columns = list(_indexes(model).values())
    assert not [c for c in columns if len(c) == 1 and c[0] != "id"], columns
    for first, second in leading.items():  # what the dropped indexes served is still served
        assert [first, second] in columns, columns


def test_product_access_by_product_is_served_by_the_activity_index():
    assert ["product_id", "last_active"] in _indexes(ProductAccess).values()
