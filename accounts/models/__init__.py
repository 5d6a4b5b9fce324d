"""The mirror of an Atlassian organization: who exists, what they can use, and when they last did."""

from accounts.models.accounts import Account, AccountStatus, AccountType
from accounts.models.ends import AccessEndStatus, MembershipEnd
from accounts.models.groups import Group, GroupProductGrant, Membership
from accounts.models.organizations import Organization
from accounts.models.prices import SeatPrice
from accounts.models.products import Product, ProductAccess, ProductGrant
from accounts.models.snapshots import ActivitySnapshot

__all__ = [
    "AccessEndStatus",
    "Account",
    "AccountStatus",
    "AccountType",
    "ActivitySnapshot",
    "Group",
    "GroupProductGrant",
    "Membership",
    "MembershipEnd",
    "Organization",
    "Product",
    "ProductAccess",
    "ProductGrant",
    "SeatPrice",
]
