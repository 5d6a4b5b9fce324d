"""A deterministic, seeded organization: products, directories, groups, accounts and activity.

Storage is compact so that 100,000 users and 2,000 groups (~1,000,000 memberships) build in a few
seconds: one slotted :class:`Account` per account (group indices in an ``array``, per-product
last-active epochs in a small tuple), one ``set`` of user indices per :class:`Group`. JSON is
rendered lazily, page by page (see ``render.py``). Profile details that never change (job title,
department, time zone...) are derived from the account index instead of being stored.
"""

import math
import random
import uuid
from array import array
from dataclasses import dataclass
from itertools import accumulate

DAY = 86400.0


@dataclass(frozen=True)
class Product:
    key: str  # v2 productAccess key, role-assignment resourceOwner, ARI product segment
    v1_key: str | None  # the Admin v1 enum spells JSM differently and lacks the newer products (None)
    name: str
    jira_role: bool  # exposed as a Jira application role (of the production site)
    instance: str = "site"  # whose id ends the resource ARI: site, sandbox, loom or workspace
    assignable: bool = True  # a resource the role-assignment endpoints accept (their documented list)

    @property
    def ref(self) -> str:
        """How tests and snapshots name the product: its key, ``key@sandbox`` for the second site."""
        return f"{self.key}@{self.instance}" if self.instance == "sandbox" else self.key


# The first four are the original products; the others were added later and are granted through
# direct roles (not through groups), so that worlds seeded before keep their groups and accounts.
PRODUCTS = (
    Product("jira-software", "jira-software", "Jira Software", True),
    Product("jira-servicedesk", "jira-service-desk", "Jira Service Management", True),
    Product("confluence", "confluence", "Confluence", False),
    Product("bitbucket", "bitbucket", "Bitbucket", False, instance="workspace"),
    Product("jira-product-discovery", None, "Jira Product Discovery", True),
    Product("loom", None, "Loom", False, instance="loom"),
    # Rovo's key and resource are not in the documents (the role-assignment list lacks it): UNCONFIRMED.
    Product("rovo", None, "Rovo", False, assignable=False),
    Product("compass", None, "Compass", False),
    # A second Jira site (a sandbox): the same product key on another cloud id.
    Product("jira-software", "jira-software", "Jira Software (sandbox)", False, instance="sandbox"),
)
JSW, JSM, CONF, BB, JPD, LOOM, ROVO, COMPASS, SANDBOX = range(len(PRODUCTS))
# By reference: the key, and "jira-software@sandbox" for the sandbox (which shares its key).
PRODUCT_BY_KEY = {p.ref: i for i, p in enumerate(PRODUCTS)}
# Who gets each newer product (a direct atlassian/user role): share of the people asked, whether
# only Jira Software users are asked, and the share of holders who never opened it.
EXTRA_GRANTS = (
    (JPD, 0.15, True, 0.3),
    (LOOM, 0.25, False, 0.5),
    (ROVO, 0.35, False, 0.6),
    (COMPASS, 0.06, True, 0.3),
    (SANDBOX, 0.05, True, 0.5),
)

# name, description, (product, role) grants, share of users who are members
LICENCE_GROUPS = (
    ("jira-software-users", "Grants access to Jira Software", ((JSW, "atlassian/user"),), 0.75),
    ("confluence-users", "Grants access to Confluence", ((CONF, "atlassian/user"),), 0.72),
    ("jira-servicedesk-agents", "Agents of Jira Service Management", ((JSM, "atlassian/user"),), 0.10),
    ("bitbucket-users", "Grants access to Bitbucket", ((BB, "atlassian/user"),), 0.18),
    (
        "site-admins",
        "Site administrators",
        ((JSW, "atlassian/admin"), (CONF, "atlassian/admin"), (JSM, "atlassian/admin")),
        0.0,
    ),
)
SITE_ADMINS = "site-admins"

# Activity categories of directory users and their shares (see the module docs of the package).
ACTIVE_30, ACTIVE_180, DORMANT, INVITED, SUSPENDED, DEACTIVATED = range(6)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


CATEGORY_SHARES = ((ACTIVE_180, 0.15), (DORMANT, 0.08), (INVITED, 0.05), (SUSPENDED, 0.012), (DEACTIVATED, 0.008))

FIRST = _words(
    "Aisha Alex Amara Ana Andrei Anja Arjun Ben Bianca Carlos Chen Chloe Daniel Dara Diego Elena Emeka "
    "Emma Eva Farah Felix Fatima Gabriel Grace Hana Hugo Ines Isaac Ivan Jade James Javier Jin Julia Kai "
    "Kenji Lara Leo Liam Lina Lucas Maya Mei Mateo Mia Mohamed Nadia Noah Nora Olga Omar Oscar Paula "
    "Priya Rafael Rosa Ruth Sam Sara Sofia Tariq Theo Tomas Uma Victor Wei Yara Yusuf Zara Zoe"
)
LAST = _words(
    "Abe Adeyemi Alvarez Andersen Bauer Becker Brown Chen Costa Dubois Eriksen Fernandes Fischer Garcia "
    "Gupta Haddad Hansen Horvat Ibrahim Ito Jansen Jovanovic Kaur Kim Kowalski Kruger Larsen Lee Lopez "
    "Martin Meyer Moreau Murphy Nakamura Nguyen Novak Okafor Olsen Park Patel Petrov Popescu Quinn Rossi "
    "Santos Schmidt Silva Singh Smith Sokolov Tanaka Taylor Tran Varga Wagner Walsh Wang Weber Wilson "
    "Wright Yamamoto Young Zhang"
)
TEAM_PREFIXES = ("team", "eng", "dept", "proj", "squad", "guild", "chapter", "ext")
TEAM_WORDS = _words(
    "platform payments mobile web data security infra sre qa design marketing sales finance legal people "
    "support devrel research analytics growth billing identity search ml docs partners ops it procurement "
    "hiring"
)
APP_NAMES = (
    "Automation for Jira",
    "Jira Cloud for Slack",
    "Microsoft Teams for Jira",
    "GitHub for Jira",
    "Statuspage",
    "Opsgenie",
    "Confluence Analytics",
    "Zendesk Support",
)
UNMANAGED_DOMAINS = ("mail.example.net", "contractors.example.org", "partner.example.com", "agency.example")


class Account:
    """One Atlassian account. ``kind`` is atlassian (directory user), app or customer (Jira only)."""

    __slots__ = (
        "account_id",
        "added",
        "deactivated_on",
        "delete_refusal",
        "deletion_at",
        "directory",
        "email",
        "email_verified",
        "gone",
        "groups",
        "idx",
        "in_directory",
        "jira_active",
        "kind",
        "last_active",
        "managed",
        "mfa",
        "name",
        "nickname",
        "org_admin",
        "suspended",
    )

    def __init__(self, idx: int, account_id: str, kind: str, name: str, email: str | None):
        self.idx = idx
        self.account_id = account_id
        self.kind = kind
        self.name = name
        self.nickname = name.split(" ")[0]
        self.email = email
        self.managed = False
        self.directory: int | None = None  # index into Dataset.directories; None outside any directory
        self.in_directory = kind == "atlassian"
        self.added: float | None = None
        self.suspended = False
        self.deactivated_on: float | None = None
        self.deletion_at: float | None = None  # lifecycle delete pending until this epoch
        self.delete_refusal: tuple[str, str] | None = None  # (code, message): lifecycle delete answers 409
        self.gone = False  # deleted for good: invisible everywhere
        self.groups = array("I")
        self.last_active: tuple[float | None, ...] = (None,) * len(PRODUCTS)
        self.org_admin = False
        self.mfa = False
        self.email_verified = True
        self.jira_active = True  # only used for app and customer accounts


class Group:
    __slots__ = ("description", "directory", "gone", "idx", "managed_by", "members", "name", "roles", "synced", "uuid")

    def __init__(self, idx: int, gid: str, name: str, description: str, directory: int):
        self.idx = idx
        self.uuid = gid
        self.name = name
        self.description = description
        self.directory = directory
        self.synced = False
        self.managed_by = "admins"
        self.members: set[int] = set()
        self.roles: list[tuple[int, str]] = []  # (product index, role id)
        self.gone = False


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _spread(rng: random.Random, n: int, default: int, shares, minimum: int) -> list[int]:
    """A shuffled list of n category codes with the given shares (at least ``minimum`` each if n >= 20)."""
    codes: list[int] = []
    for code, share in shares:
        count = round(share * n)
        if n >= 20:
            count = max(count, minimum)
        codes.extend([code] * count)
    codes = codes[:n]
    codes.extend([default] * (n - len(codes)))
    rng.shuffle(codes)
    return codes


class Dataset:
    """The generated organization. Mutated only through ``SimulatorState`` (which holds the lock)."""

    def __init__(
        self,
        *,
        users: int,
        groups: int,
        seed: int,
        org_id: str,
        org_name: str | None,
        now: float,
        sandbox_site: bool = False,
    ):
        rng = random.Random(f"atlassian-simulator:{seed}")
        self.seed = seed
        self.org_id = org_id
        self.org_name = org_name or org_id.replace("-", " ").replace("_", " ").title()
        slug = "".join(c for c in org_id.lower() if c.isalnum() or c == "-").strip("-") or "demo"
        self.site_name = slug
        self.domain = f"{slug}.example.com"
        self.cloud_id = _uuid(rng)
        self.directories = [
            (_uuid(rng), f"{self.org_name} (local)"),
            (_uuid(rng), "Okta (identity provider)"),
        ]
        self.accounts: list[Account] = []
        self.by_account_id: dict[str, int] = {}
        self.groups: list[Group] = []
        self.group_by_uuid: dict[str, int] = {}
        self.direct_roles: dict[int, set[tuple[int, str]]] = {}
        self.seats: list[int] = [0] * len(PRODUCTS)
        self._email_counts: dict[str, int] = {}
        self._build_groups(rng, groups)
        self._build_users(rng, users, now)
        self._build_jira_only(rng, users)
        self.jira_order = sorted(range(len(self.accounts)), key=lambda i: self.accounts[i].account_id)
        # What came later draws from a stream of its own: the accounts, groups and activity above
        # stay what they were for a given seed.
        later = random.Random(f"atlassian-simulator:{seed}:later")
        self.instance_ids = {
            "site": self.cloud_id,
            "sandbox": _uuid(later),
            "loom": _uuid(later),
            "workspace": _uuid(later),
        }
        self.sandbox_site = sandbox_site
        self._grant_newer_products(later, users)
        self._build_outside_directories(later, users, now)
        self._set_seats()

    # -- resources -------------------------------------------------------------------------------
    def resource_id(self, product: int) -> str:
        """The product instance's ARI: ``ari:cloud:<key>::site/<cloudId>`` (a workspace for Bitbucket)."""
        p = PRODUCTS[product]
        kind = "workspace" if p.instance == "workspace" else "site"
        return f"ari:cloud:{p.key}::{kind}/{self.instance_ids[p.instance]}"

    def product_url(self, product: int) -> str:
        p = PRODUCTS[product]
        if p.instance == "workspace":
            return f"https://bitbucket.org/{self.site_name}"
        if p.instance == "loom":
            return "https://www.loom.com"
        if p.instance == "sandbox":
            return f"https://{self.site_name}-sandbox.atlassian.net"
        suffix = {CONF: "/wiki", COMPASS: "/compass"}.get(product, "")
        return f"https://{self.site_name}.atlassian.net{suffix}"

    def unique_email(self, local: str, domain: str) -> str:
        base = f"{local}@{domain}"
        count = self._email_counts.get(base, 0) + 1
        self._email_counts[base] = count
        return base if count == 1 else f"{local}{count}@{domain}"

    def new_account(self, account_id: str, kind: str, name: str, email: str | None) -> Account:
        account = Account(len(self.accounts), account_id, kind, name, email)
        self.accounts.append(account)
        self.by_account_id[account_id] = account.idx
        return account

    def new_group(self, gid: str, name: str, description: str, directory: int) -> Group:
        group = Group(len(self.groups), gid, name, description, directory)
        self.groups.append(group)
        self.group_by_uuid[gid] = group.idx
        return group

    # -- generation ------------------------------------------------------------------------------
    def _build_groups(self, rng: random.Random, count: int) -> None:
        for name, description, grants, _share in LICENCE_GROUPS[:count]:
            group = self.new_group(_uuid(rng), name, description, 0)
            group.roles = list(grants)
        n_team = count - len(self.groups)
        n_synced = max(1, round(0.1 * n_team)) if n_team >= 3 else 0
        synced = set(rng.sample(range(n_team), n_synced))
        per_round = len(TEAM_PREFIXES) * len(TEAM_WORDS)
        for k in range(n_team):
            prefix, word = (
                TEAM_PREFIXES[k % len(TEAM_PREFIXES)],
                TEAM_WORDS[(k // len(TEAM_PREFIXES)) % len(TEAM_WORDS)],
            )
            name = f"{prefix}-{word}" if k < per_round else f"{prefix}-{word}-{k // per_round + 1}"
            if k in synced:
                group = self.new_group(_uuid(rng), f"sso-{name}", f"{word.title()} ({prefix}), synced from Okta", 1)
                group.synced, group.managed_by = True, "external"
            else:
                group = self.new_group(_uuid(rng), name, f"{word.title()} {prefix} members", 0)
                r = rng.random()
                group.managed_by = "admins" if r < 0.8 else ("team-members" if r < 0.95 else "open")

    def _build_users(self, rng: random.Random, n: int, now: float) -> None:
        cats = _spread(rng, n, ACTIVE_30, CATEGORY_SHARES, 1)
        active = [i for i, c in enumerate(cats) if c == ACTIVE_30]
        admins = set(rng.sample(active, min(len(active), max(1, round(0.01 * n)))))
        unmanaged = set(rng.sample(range(n), round(0.2 * n) if n >= 5 else 0)) - admins
        unmanaged -= {i for i, c in enumerate(cats) if c == DEACTIVATED}
        product_group = {g.roles[0][0]: g.idx for g in self.groups if g.roles and g.name != SITE_ADMINS}
        site_admins = next((g.idx for g in self.groups if g.name == SITE_ADMINS), None)
        team = [g for g in self.groups if not g.roles]
        local_pool = [g.idx for g in team if not g.synced]
        idp_pool = [g.idx for g in team]
        weights = {g.idx: 1.0 / (rank + 5) ** 0.9 for rank, g in enumerate(rng.sample(team, len(team)))}
        local_cw = list(accumulate(weights[g] for g in local_pool))
        idp_cw = list(accumulate(weights[g] for g in idp_pool))
        mean_k = min(8.0, max(1.0, len(team) / 25))
        k_low, k_high = max(1, round(mean_k / 2)), max(1, round(mean_k * 1.5))
        shares = [(p, share) for _n, _d, ((p, _r),), share in LICENCE_GROUPS[:4]]
        getrandbits, random_ = rng.getrandbits, rng.random
        groups = self.groups
        for i in range(n):
            first, last = FIRST[getrandbits(16) % len(FIRST)], LAST[getrandbits(16) % len(LAST)]
            account_id = "5" + format(getrandbits(92), "023x") if random_() < 0.4 else "712020:" + _uuid(rng)
            managed = i not in unmanaged
            email: str | None
            if managed:
                email = self.unique_email(f"{first}.{last}".lower(), self.domain)
            else:
                domain = UNMANAGED_DOMAINS[getrandbits(8) % len(UNMANAGED_DOMAINS)]
                email = None if random_() < 0.15 else self.unique_email(f"{first}.{last}".lower(), domain)
            a = self.new_account(account_id, "atlassian", f"{first} {last}", email)
            a.managed = managed
            a.directory = 1 if managed and i not in admins and random_() < 0.45 else 0
            a.mfa = random_() < (0.7 if managed else 0.3)
            cat = cats[i]
            # products, via licence groups
            products = {p for p, share in shares if random_() < share}
            if not products:
                products.add(JSW if random_() < 0.6 else CONF)
            if i in admins:
                a.org_admin = True
                products |= {JSW, CONF}
            member_of = [product_group[p] for p in products if p in product_group]
            if site_admins is not None and (i in admins or random_() < 0.003):
                member_of.append(site_admins)
            pool, cw = (idp_pool, idp_cw) if a.directory == 1 else (local_pool, local_cw)
            if pool:
                member_of.extend(set(rng.choices(pool, cum_weights=cw, k=rng.randint(k_low, k_high))))
            for g in member_of:
                groups[g].members.add(i)
            a.groups = array("I", sorted(member_of))
            # activity relative to now
            if cat == INVITED:
                a.email_verified = random_() < 0.4
                a.added = now - DAY * (30 * random_() if random_() < 0.5 else 30 + 370 * random_())
                continue
            if i in admins:
                age = 3 * DAY * random_()
            elif cat == ACTIVE_30:
                age = 30 * DAY * random_() ** 2
            elif cat == ACTIVE_180:
                age = DAY * (30 + 150 * random_())
            elif cat == DORMANT:
                age = DAY * (180 + 720 * random_())
            elif cat == SUSPENDED:
                age = DAY * (30 + 370 * random_())
            else:
                age = DAY * (90 + 610 * random_())
            used = sorted(p for p in products if p in product_group)
            # Not `last`: that is the surname drawn above.
            last_used: list[float | None] = [None] * len(PRODUCTS)
            oldest = age
            for rank, p in enumerate(rng.sample(used, len(used))):
                if rank == 0:
                    last_used[p] = now - age
                elif random_() < 0.75:
                    extra = age + 60 * DAY * random_() ** 2
                    last_used[p] = now - extra
                    oldest = max(oldest, extra)
            a.last_active = tuple(last_used)
            a.added = now - oldest - DAY * (1 + 1200 * random_())
            if cat == SUSPENDED:
                a.suspended = True
            elif cat == DEACTIVATED:
                a.deactivated_on = now - age * random_()

    def _build_jira_only(self, rng: random.Random, n: int) -> None:
        for k in range(max(1, round(0.01 * n))):
            name = APP_NAMES[k % len(APP_NAMES)] + ("" if k < len(APP_NAMES) else f" {k // len(APP_NAMES) + 1}")
            self.new_account("557058:" + _uuid(rng), "app", name, None)
        for k in range(max(1, round(0.03 * n))):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = self.unique_email(f"{first}.{last}".lower(), f"customer-{k % 40}.example")
            account = self.new_account(f"qm:{_uuid(rng)}:{_uuid(rng)}", "customer", f"{first} {last}", email)
            account.jira_active = rng.random() < 0.95

    def _grant_newer_products(self, rng: random.Random, n: int) -> None:
        """Direct roles on the newer products; activity never later than the person's latest."""
        groups = self.groups
        for a in self.accounts[:n]:
            held = {p for g in a.groups for p, _r in groups[g].roles}
            seen = [t for t in a.last_active if t is not None]
            latest = max(seen) if seen else None
            values = list(a.last_active)
            for product, share, jira_only, never in EXTRA_GRANTS:
                asked = not jira_only or JSW in held
                if not (asked and (rng.random() < share or (product == SANDBOX and a.org_admin))):
                    continue
                opened, when = rng.random() >= never, rng.random()  # drawn whether granted or not
                if product == SANDBOX and not self.sandbox_site:
                    continue
                self.direct_roles.setdefault(a.idx, set()).add((product, "atlassian/user"))
                if latest is not None and a.added is not None and opened:
                    values[product] = a.added + (latest - a.added) * (0.3 + 0.7 * when)
            a.last_active = tuple(values)

    def _build_outside_directories(self, rng: random.Random, n: int, now: float) -> None:
        """Managed accounts (on the verified domain) in no directory: v2 ``not_invited``, no access."""
        for _k in range(max(1, round(0.01 * n))):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = self.unique_email(f"{first}.{last}".lower(), self.domain)
            a = self.new_account("712020:" + _uuid(rng), "atlassian", f"{first} {last}", email)
            a.managed = True
            a.in_directory = False
            a.added = now - DAY * (30 + 700 * rng.random())

    def _set_seats(self) -> None:
        for p in range(len(PRODUCTS)):
            holders: set[int] = {i for i, roles in self.direct_roles.items() if any(rp == p for rp, _r in roles)}
            for g in self.groups:
                if any(gp == p for gp, _r in g.roles):
                    holders |= g.members
            used = sum(1 for i in holders if not self.accounts[i].suspended and self.accounts[i].deactivated_on is None)
            self.seats[p] = int(math.ceil((used * 1.08 + 5) / 10.0) * 10)
