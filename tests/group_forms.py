"""Running a test under both spellings of a group id (governance/atlassian/groupids.py).

Atlassian's documents give a group's id as a bare UUID in the group search and as an ARI in a
user's ``groups``; which one the live group search sends is UNCONFIRMED. A test marked
``@both_group_id_forms`` runs against a simulator of each kind: the parameter overrides the
``group_id_form`` fixture (tests/conftest.py) that the simulator fixtures read.
"""

import pytest

GROUP_ID_FORMS = ("ari", "uuid")
both_group_id_forms = pytest.mark.parametrize("group_id_form", GROUP_ID_FORMS)
