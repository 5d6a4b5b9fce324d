"""What a policy would do, for its preview page, its CSV and its email preview.

Today's decisions are exactly what a run now would decide (``evaluate``). The next 30 days are a
projection: the same engine, fed the same snapshots at later moments, assuming a run every day,
no new activity and no new exemptions. Only accounts whose warning window opens by the end of the
horizon are stepped through, and they jump from one event to the next, so the page costs a fixed
handful of queries and about two engine passes over the organization, whatever its size.
"""

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import F, Field

from accounts.models import Account, Organization, Product
from accounts.selectors.prices import (
    MONTHS_PER_YEAR,
    Price,
    SavingLine,
    Savings,
    saving_lines,
    savings_for,
    seat_prices,
)
from policies import capcheck
from policies.email_templates import TemplateProblem, check_template
from policies.engine import (
    AccountSnapshot,
    Decision,
    ExemptionSpec,
    OpenCase,
    PolicySpec,
    Verdict,
    decide,
    exemption_reason,
    in_scope,
)
from policies.models import Enforcement, EnforcementStatus, InactivityPolicy, PolicyAction, PolicyMode
from policies.selectors.dashboard import products_held
from policies.selectors.snapshots import active_exemptions, candidate_accounts, load_snapshots, policy_spec
from policies.services.execute import IDP_REFUSED_ACTIONS
from policies.services.notifications import render
from policies.services.runs import (
    Evaluation,
    blocked_removals,
    cap_for,
    cap_outlook,
    evaluate,
    idp_provisioned,
    sync_is_fresh,
)

HORIZON_DAYS = 30
DAY = timedelta(days=1)
_CHUNK = 500
# Today's column for an account an import changed and no sync has confirmed yet: a run leaves it
# alone (policies/selectors/snapshots.py), so the preview says what it waits for instead of "act" or "warn".
WAIT = "wait"
# ?show=idp: accounts acted on that an identity provider provisions (the identity team's list).
IDP = "idp"
_RANK = {Verdict.ACT: 0, Verdict.WARN: 1, Verdict.CANCEL: 2, WAIT: 3, "": 4}

# ?show= on the preview page and its CSV: which rows.
SHOW_CHOICES = (
    ("all", "Everyone"),
    ("today", "Today"),
    ("act", "Acted on within 30 days"),
    ("warn", "Warned within 30 days"),
    ("cancel", "Cancelled today"),
    (WAIT, "Waiting for a sync"),
    (IDP, "Action needed in the identity provider"),
)
CSV_HEADER = (
    "atlassian_account_id",
    "name",
    "email",
    "managed",
    "today",
    "already_warned_on",
    "warning_on",
    "action_on",
    "due_at",
    "products",
    "reason",
    "needs_review",
    "identity_provider",
    "saving_per_month",
    "saving_per_year",
    "products_without_price",
)


@dataclass
class PreviewRow:
    account_pk: int
    today: str = ""  # act | warn | cancel | wait (imported data, waiting for a sync) | "" (nothing today)
    warned_at: datetime | None = None  # an earlier warning, from the open enforcement
    warn_on: datetime | None = None  # the first warning within the horizon
    act_on: datetime | None = None  # the action, when it falls within the horizon
    due_at: datetime | None = None
    reason: str = ""
    account_id: str = ""
    name: str = ""
    email: str = ""
    managed: bool = False
    products: list[str] = field(default_factory=list)  # scoped products held (all products if none scoped)
    product_pks: list[int] = field(default_factory=list)
    # A product removal that would free no seat as planned, and why (a group that grants more).
    needs_review: str = ""
    # Provisioned by this identity provider, and the action is one Atlassian refuses for such
    # accounts: nothing is sent, the identity team acts there (DESIGN.md 5.11).
    idp: str = ""
    # What the seats its action frees save (acted on within the horizon, and the seats freed).
    saving: Savings = field(default_factory=Savings)

    @property
    def first_day(self) -> datetime | None:
        return min((d for d in (self.warn_on, self.act_on) if d is not None), default=None)

    def shown_for(self, show: str) -> bool:
        return {
            "today": bool(self.today),
            "act": self.act_on is not None,
            "warn": self.warn_on is not None,
            "cancel": self.today == Verdict.CANCEL,
            WAIT: self.today == WAIT,
            IDP: bool(self.idp) and (self.today == Verdict.ACT or self.act_on is not None),
        }.get(show, True)

    def csv_cells(self) -> tuple[str, ...]:
        def day(value: datetime | None) -> str:
            return value.date().isoformat() if value else ""

        return (
            self.account_id,
            self.name,
            self.email,
            "managed" if self.managed else "external",
            self.today,
            day(self.warned_at),
            day(self.warn_on),
            day(self.act_on),
            day(self.due_at),
            "; ".join(self.products),
            self.reason,
            self.needs_review,
            self.idp,
            self.saving.text(),
            self.saving.text(yearly=True),
            "; ".join(self.saving.unpriced_products),
        )


@dataclass
class SeatRow:
    product: str
    today: int  # seats freed by today's actions
    horizon: int  # ... and by those within the horizon
    seats_used: int | None
    seats_total: int | None
    # Accounts acted on whose seat is not freed as planned: they go to the review queue instead.
    needs_review_today: int = 0
    needs_review_horizon: int = 0
    price: Price | None = None  # per seat per month; None: nobody set one

    @property
    def monthly_today(self) -> Decimal | None:
        return self.price.monthly * self.today if self.price else None

    @property
    def monthly_horizon(self) -> Decimal | None:
        return self.price.monthly * self.horizon if self.price else None

    @property
    def yearly_horizon(self) -> Decimal | None:
        return self.price.monthly * self.horizon * MONTHS_PER_YEAR if self.price else None


@dataclass
class PolicyPreview:
    policy: InactivityPolicy
    now: datetime
    horizon_days: int
    fresh: bool
    stale_reason: str
    scope_size: int
    cap: int
    rows: list[PreviewRow]
    seats: list[SeatRow]
    today_counts: dict[str, int]
    horizon_counts: dict[str, int]
    # Day by day over the horizon, the runs with accounts to act on, up to the first the cap halts.
    cap_days: list[capcheck.CapDay] = field(default_factory=list)
    # Why a run now would halt (today's actions, or a day its warnings lead to), or None.
    run_halt: capcheck.CapDay | None = None
    # The money the freed seats save, per currency: by today's actions, and by those within the horizon.
    savings_today: Savings = field(default_factory=Savings)
    savings_horizon: Savings = field(default_factory=Savings)

    @property
    def enforcing(self) -> bool:
        return self.policy.mode == PolicyMode.ENFORCE

    @property
    def over_cap(self) -> bool:
        """More accounts due today than one run may act on: an enforcing run halts before acting."""
        return self.today_counts["act"] > self.cap

    @property
    def horizon_halt(self) -> capcheck.CapDay | None:
        return capcheck.first_halt(self.cap_days)

    @property
    def cap_calendar(self) -> list[tuple[capcheck.CapDay, datetime]]:
        """``cap_days`` with the date of each run."""
        return [(day, self.now + day.day * DAY) for day in self.cap_days]

    @property
    def horizon_halt_on(self) -> datetime | None:
        return self.now + self.horizon_halt.day * DAY if self.horizon_halt else None

    @property
    def run_halt_on(self) -> datetime | None:
        return self.now + self.run_halt.day * DAY if self.run_halt else None

    @property
    def frees_seats(self) -> bool:
        return self.policy.action != PolicyAction.NOTIFY

    @property
    def saving_lines(self) -> list[SavingLine]:
        """Per currency: what today's actions save per month, and those within the horizon."""
        return saving_lines(self.savings_horizon, self.savings_today)

    def shown(self, show: str) -> list[PreviewRow]:
        return [row for row in self.rows if row.shown_for(show)]


def policy_preview(policy: InactivityPolicy, now: datetime, *, horizon_days: int = HORIZON_DAYS) -> PolicyPreview:
    fresh, stale_reason = sync_is_fresh(policy, now)
    evaluation = evaluate(policy, now)
    today = {d.account_pk: d for d in evaluation.decisions}
    cases = {pk: case for pk, (_, case) in evaluation.open.items()}

    spec = policy_spec(policy)
    exemptions = active_exemptions(policy.organization, now)
    snapshots = {s.pk: s for s in load_snapshots(policy, spec, exemptions)}
    end = now + horizon_days * DAY
    # Inactivity only grows and exemptions only expire: whoever is not in the warning window at the
    # end of the horizon is not in it before, so one pass at the end finds everyone to step through.
    candidates = {pk for pk, d in today.items() if d.verdict in (Verdict.WARN, Verdict.ACT)}
    candidates |= {
        s.pk
        for s in snapshots.values()
        if decide(spec, s, exemptions, end, cases.get(s.pk)).verdict in (Verdict.WARN, Verdict.ACT)
    }

    rows: dict[int, PreviewRow] = {}
    for pk, decision in today.items():
        case = cases.get(pk)
        rows[pk] = PreviewRow(
            account_pk=pk,
            today=decision.verdict.value,
            warned_at=case.warned_at if case else None,
            due_at=decision.due_at,
            reason=decision.reason,
        )
    for pk in candidates & snapshots.keys():
        warn_day, act_day, last = _project(spec, snapshots[pk], exemptions, now, horizon_days, cases.get(pk), today)
        if last is None:
            continue
        row = rows.setdefault(pk, PreviewRow(account_pk=pk))
        row.warn_on = now + warn_day * DAY if warn_day is not None else None
        row.act_on = now + act_day * DAY if act_day is not None else None
        if not row.today:  # today's rows keep today's reason: what a run now would record
            row.due_at, row.reason = last.due_at, last.reason

    for pk, decision in _waiting_for_sync(policy, spec, exemptions, now).items():
        rows[pk] = PreviewRow(
            account_pk=pk,
            today=WAIT,
            due_at=decision.due_at,
            reason=(
                "waiting for a sync: an import changed this account and no sync has confirmed it yet; "
                f"on the imported data the policy would {decision.verdict.value}: {decision.reason}"
            ),
        )

    products = {p.pk: p for p in Product.objects.filter(organization=policy.organization)}
    _describe(rows, products, spec.product_pks)
    acting = [r.account_pk for r in rows.values() if r.act_on is not None or r.today in (Verdict.ACT, Verdict.WARN)]
    for pk, why in blocked_removals(policy, acting).items():
        rows[pk].needs_review = why
    if policy.action in IDP_REFUSED_ACTIONS:
        _mark_idp(rows, policy.organization, idp_provisioned(acting, policy.organization))
    ordered = sorted(
        rows.values(),
        # Today's rows first (act, warn, cancel), then the rest in date order.
        key=lambda r: (0 if r.today else 1, _RANK[r.today], r.first_day or now, r.name.lower(), r.account_pk),
    )
    cap_days, run_halt = _cap_outlook(policy, evaluation, ordered, now)
    frees_seats = policy.action != PolicyAction.NOTIFY
    prices = seat_prices(products) if frees_seats else {}
    seats = _seats(ordered, products, prices) if frees_seats else []
    if frees_seats:
        _price_rows(ordered, products, prices)
    return PolicyPreview(
        cap_days=cap_days,
        run_halt=run_halt,
        savings_today=_total(seats, today=True),
        savings_horizon=_total(seats, today=False),
        policy=policy,
        now=now,
        horizon_days=horizon_days,
        fresh=fresh,
        stale_reason=stale_reason,
        scope_size=evaluation.scope_size,
        cap=cap_for(policy, evaluation.scope_size),
        rows=ordered,
        seats=seats,
        today_counts={
            **{v: len(evaluation.by_verdict(Verdict(v))) for v in ("act", "warn", "cancel")},
            "needs_review": sum(1 for r in ordered if r.today == Verdict.ACT and r.needs_review),
            WAIT: sum(1 for r in ordered if r.today == WAIT),
            IDP: sum(1 for r in ordered if r.today == Verdict.ACT and r.idp),
        },
        horizon_counts={
            "act": sum(1 for r in ordered if r.act_on is not None),
            "warn": sum(1 for r in ordered if r.warn_on is not None),
            "needs_review": sum(1 for r in ordered if r.act_on is not None and r.needs_review),
            IDP: sum(1 for r in ordered if r.act_on is not None and r.idp),
        },
    )


def _cap_outlook(
    policy: InactivityPolicy, evaluation: Evaluation, rows: list[PreviewRow], now: datetime
) -> tuple[list[capcheck.CapDay], capcheck.CapDay | None]:
    """Where the cap halts: over the horizon, from the projected action days of every row (a run
    each day); and for a run now, from its own decisions (what ``policy_run`` checks)."""
    due = capcheck.due_by_day(0, [row.act_on for row in rows if row.act_on is not None], now)
    days = capcheck.cap_days(
        due,
        scope_size=evaluation.scope_size,
        cap_absolute=policy.cap_absolute,
        cap_percent=policy.cap_percent,
        leaves_scope=policy.action != PolicyAction.NOTIFY,
    )
    return days, capcheck.first_halt(cap_outlook(policy, evaluation, now))


def _mark_idp(rows: dict[int, PreviewRow], organization: Organization, pks: set[int]) -> None:
    directories = dict(Account.objects.filter(pk__in=list(pks)).values_list("pk", "directory_id")) if pks else {}
    for pk in pks:
        rows[pk].idp = organization.directory_name(directories.get(pk)) or "identity provider"


def _waiting_for_sync(
    policy: InactivityPolicy, spec: PolicySpec, exemptions: list[ExemptionSpec], now: datetime
) -> dict[int, Decision]:
    """Accounts waiting for a sync that the policy would warn or act on today if the imported data
    were confirmed: account pk -> that decision (a run does neither; see policies/selectors/snapshots.py)."""
    decisions: dict[int, Decision] = {}
    for snapshot in load_snapshots(policy, spec, exemptions, awaiting_sync=True):
        decision = decide(spec, snapshot, exemptions, now)
        if decision.verdict in (Verdict.WARN, Verdict.ACT):
            decisions[snapshot.pk] = decision
    return decisions


def _project(
    spec: PolicySpec,
    snapshot: AccountSnapshot,
    exemptions: list[ExemptionSpec],
    now: datetime,
    horizon_days: int,
    case: OpenCase | None,
    today: dict[int, Decision],
) -> tuple[int | None, int | None, Decision | None]:
    """Days (from now) of the first warning and of the action within the horizon, and the last
    decision reached; a warning sent on the way is remembered as the open case a run would create."""
    warn_day: int | None = None
    last: Decision | None = None
    day = 0
    decision = today.get(snapshot.pk) or decide(spec, snapshot, exemptions, now, case)
    while True:
        if decision.verdict == Verdict.ACT:
            return warn_day, day, decision
        if decision.verdict == Verdict.WARN:
            assert decision.due_at is not None  # the engine dates every warning
            last = decision
            if case is None or case.warned_at is None:
                warn_day = day if warn_day is None else warn_day
                case = OpenCase(status=EnforcementStatus.WARNED, warned_at=now + day * DAY, due_at=decision.due_at)
            # Nothing changes until the action is due: jump there.
            day = max(day + 1, math.ceil((decision.due_at - now) / DAY))
        else:
            day += 1
        if day > horizon_days:
            return warn_day, None, last
        decision = decide(spec, snapshot, exemptions, now + day * DAY, case)


def _describe(rows: dict[int, PreviewRow], products: dict[int, Product], scoped_pks: Iterable[int]) -> None:
    """Names, emails and the products each row's account holds (the policy's products, or all)."""
    pks = sorted(rows)
    for start in range(0, len(pks), _CHUNK):
        chunk = pks[start : start + _CHUNK]
        for pk, account_id, name, email, managed in Account.objects.filter(pk__in=chunk).values_list(
            "pk", "account_id", "name", "email", "managed"
        ):
            row = rows[pk]
            row.account_id, row.name, row.email, row.managed = account_id, name or "", email or "", managed
    for account_pk, product_pk in products_held(pks, scoped_pks):
        product = products.get(product_pk)
        if product is not None:
            rows[account_pk].products.append(product.name or product.key)
            rows[account_pk].product_pks.append(product_pk)
    for row in rows.values():
        row.products.sort()


def _price_rows(rows: list[PreviewRow], products: dict[int, Product], prices: dict[int, Price]) -> None:
    """Each row acted on within the horizon whose seats are freed: what they save."""
    for row in rows:
        if row.act_on is not None and not row.needs_review:
            names = {pk: products[pk].name or products[pk].key for pk in row.product_pks if pk in products}
            row.saving = savings_for(((pk, 1) for pk in row.product_pks), prices, names)


def _total(seats: list[SeatRow], *, today: bool) -> Savings:
    savings = Savings()
    for seat in seats:
        savings.add(seat.price, seat.today if today else seat.horizon, seat.product)
    return savings


def _seats(rows: list[PreviewRow], products: dict[int, Product], prices: dict[int, Price]) -> list[SeatRow]:
    """Per product: accounts acted on today, and within the horizon, that hold it; those whose
    seat the plan would not free (``needs_review``) are counted apart."""
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for row in rows:
        if row.act_on is None:
            continue
        held = "needs_review_" if row.needs_review else ""
        for pk in row.product_pks:
            counts[pk][f"{held}horizon"] += 1
            if row.today == Verdict.ACT:
                counts[pk][f"{held}today"] += 1
    return sorted(
        (
            SeatRow(
                product=products[pk].name or products[pk].key,
                today=count["today"],
                horizon=count["horizon"],
                seats_used=products[pk].seats_used,
                seats_total=products[pk].seats_total,
                needs_review_today=count["needs_review_today"],
                needs_review_horizon=count["needs_review_horizon"],
                price=prices.get(pk),
            )
            for pk, count in counts.items()
        ),
        key=lambda seat: (-seat.horizon, -seat.needs_review_horizon, seat.product),
    )


# -- email preview ---------------------------------------------------------------------------------

SAMPLE_POOL = 25
EMAIL_KINDS = (
    ("warning", "Warning email", "warning_subject", "warning_body"),
    ("action", "Action email", "action_subject", "action_body"),
)


@dataclass
class EmailPreview:
    kind: str
    label: str
    subject: str = ""
    text: str = ""
    html: str = ""
    errors: list[str] = field(default_factory=list)


def sample_enforcement(policy: InactivityPolicy, now: datetime) -> tuple[Enforcement, bool]:
    """An unsaved enforcement for an account in the policy's scope (the longest inactive of a few),
    or for a made-up person when there is none. The flag says whether the account is real."""
    spec = policy_spec(policy)
    exemptions = active_exemptions(policy.organization, now)
    pool = list(
        candidate_accounts(policy, spec)
        .order_by(F("last_active").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)[:SAMPLE_POOL]
    )
    snapshots = sorted(load_snapshots(policy, spec, exemptions, account_pks=pool), key=lambda s: pool.index(s.pk))
    eligible = [s for s in snapshots if in_scope(spec, s) and not exemption_reason(spec, s, exemptions, now)]
    decisions = [(s, decide(spec, s, exemptions, now)) for s in eligible]
    # Someone the policy would warn or act on today reads best; anyone in scope will do.
    sample, decision = next(
        ((s, d) for s, d in decisions if d.verdict in (Verdict.WARN, Verdict.ACT)),
        decisions[0] if decisions else (None, None),
    )
    lead = policy.warning_offsets[0] * DAY if policy.warning_offsets else timedelta(0)
    inactive_since, due_at = now - policy.trigger_days * DAY, now + lead
    if sample is None or decision is None:  # both None or neither
        account = Account(organization=policy.organization, name="Sam Sample", email="sam.sample@example.com")
    else:
        account = Account.objects.get(pk=sample.pk)
        if decision.verdict in (Verdict.WARN, Verdict.ACT):
            # The engine dates every warning and action.
            assert decision.inactive_since is not None
            assert decision.due_at is not None
            inactive_since, due_at = decision.inactive_since, max(decision.due_at, now)
    enforcement = Enforcement(
        policy=policy,
        account=account,
        status=EnforcementStatus.WARNED,
        action=policy.action,
        inactive_since=inactive_since,
        due_at=due_at,
    )
    return enforcement, sample is not None


def email_previews(enforcement: Enforcement, now: datetime) -> list[EmailPreview]:
    """The warning and action emails as they would go out, or what is wrong with their templates.

    The warning as if sent at ``now`` (the days inactive the preview page shows today, and the
    planned day); the action email as if the action were taken on that planned day (``due_at``,
    which is ``now`` for someone due today), exactly as ``send_pending`` fills them in."""
    policy = enforcement.policy
    sent_at = {"warning": now, "action": enforcement.due_at}
    previews = []
    for kind, label, subject_field, body_field in EMAIL_KINDS:
        preview = EmailPreview(kind=kind, label=label)
        for name in (subject_field, body_field):
            try:
                check_template(getattr(policy, name))
            except TemplateProblem as exc:
                preview.errors.append(f"{_verbose_name(policy, name).capitalize()}: {exc}")
        if not preview.errors:
            try:
                preview.subject, preview.text, preview.html = render(enforcement, kind, now=sent_at[kind])
            except (KeyError, IndexError, ValueError, AttributeError) as exc:
                preview.errors.append(f"{label}: the template cannot be filled in ({type(exc).__name__}: {exc}).")
        previews.append(preview)
    return previews


def _verbose_name(policy: InactivityPolicy, name: str) -> str:
    model_field = policy._meta.get_field(name)
    assert isinstance(model_field, Field)  # the email templates are text columns, not relations
    return str(model_field.verbose_name)
