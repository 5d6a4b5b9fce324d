"""The public access pages: ``/access/`` (ask for a link by email), ``/access/restore/<token>/``
(the link from a warning or action email: see what was removed, ask for it back),
``/access/extend/<token>/`` (keep access with an end date longer) and ``/access/review/<token>/``
(ask for what an access review removed back).

No login. CSRF on both forms (policies/access/csrf.py: the ``Origin: null`` that no-referrer
makes browsers send is accepted), rate limits per client IP, email and token, no redirects at
all (so no open redirect), ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store`` on
every page, and the token is kept out of logs and error reports (governance.logging).
"""

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods
from django_q.tasks import async_task

from accounts.services.access_ends import EndRefused
from governance.middleware import client_ip
from policies.access import throttle
from policies.access.csrf import public_form_csrf_protect
from policies.access.expiry import extension_request_create, resolve_extension_link
from policies.access.forms import EmailForm, ExtendForm, GiveBackForm, RestoreForm
from policies.access.review_give_back import give_back_request_create, resolve_give_back_link
from policies.access.rules import describe, resolve_link, too_late
from policies.access.services import LinkUsed, TooLate, access_request_create
from policies.models.access_requests import OPEN_REQUEST_STATUSES
from policies.services.reviews import ReviewRefused

# What the pages answer. Any other method is a 405 with an Allow header, decided before the CSRF
# check (which would otherwise refuse a PUT or DELETE with a 403 that reads like a token problem).
PAGE_METHODS = ["GET", "HEAD", "POST"]


def _page(request, template: str, context: dict | None = None, *, status: int = 200):
    return throttle.private(render(request, template, context or {}, status=status))


@csrf_exempt  # checked by public_form_csrf_protect instead (policies/access/csrf.py)
@sensitive_post_parameters("email")
@require_http_methods(PAGE_METHODS)  # before the CSRF check: PUT/PATCH/DELETE are a 405, not a 403
@public_form_csrf_protect
def request_link(request):
    """Ask for a restore link by email. Every valid address gets the same page, status and body in
    the same time: the lookup and the email happen in a background task."""
    if request.method != "POST":
        return _page(request, "access/request_link.html", {"form": EmailForm()})
    form = EmailForm(request.POST)
    email = form.cleaned_data["email"].strip() if form.is_valid() else None
    refused = throttle.limited(request, "link", email=email)
    if refused is not None:
        return refused
    if email is None:
        return _page(request, "access/request_link.html", {"form": form})
    # save=False: the address is not kept with the task's result once it has run.
    async_task("policies.access.tasks.send_restore_link", email, group="access-link", save=False)
    return _page(request, "access/link_sent.html")


def personal_link_page(view):
    """What every page behind a personal link wears: the token and the form's fields kept out of
    error reports, the methods checked before CSRF (PUT/PATCH/DELETE are a 405, not a 403), and
    the public pages' own CSRF check (policies/access/csrf.py) instead of Django's."""
    view = require_http_methods(PAGE_METHODS)(public_form_csrf_protect(view))
    return sensitive_variables()(csrf_exempt(sensitive_post_parameters()(view)))


def _bad_link(request):
    # One page, one status for a tampered, expired or used link: nothing says which.
    return _page(request, "access/bad_link.html", status=410)


@personal_link_page
def restore(request, token: str):
    """The personal link from a policy email: what was removed, and a form to ask for it back."""
    refused = throttle.limited(request, "restore", token=token)
    if refused is not None:
        return refused
    enforcement = resolve_link(token)
    if enforcement is None:
        return _bad_link(request)
    account, policy = enforcement.account, enforcement.policy
    late = too_late(enforcement, account, timezone.now())
    if late:
        return _page(request, "access/too_late.html", {"explanation": late})
    open_request = enforcement.access_requests.filter(status__in=OPEN_REQUEST_STATUSES).first()
    if open_request is not None:
        return _page(request, "access/request_status.html", {"access_request": open_request})
    form = RestoreForm(
        request.POST if request.method == "POST" else None, justification_required=policy.justification_required
    )
    if request.method == "POST":
        refused = throttle.limited(request, "restore-submit", email=account.email or f"account:{account.pk}")
        if refused is not None:
            return refused
        if form.is_valid():
            try:
                access_request = access_request_create(
                    enforcement=enforcement,
                    nonce=enforcement.nonce,
                    justification=form.cleaned_data["justification"],
                    client_ip=getattr(request, "client_ip", None) or client_ip(request),
                )
            except TooLate as exc:
                return _page(request, "access/too_late.html", {"explanation": str(exc)})
            except LinkUsed:
                return _bad_link(request)
            return _page(request, "access/request_status.html", {"access_request": access_request, "created": True})
    context = {
        "form": form,
        "what": describe(enforcement),
        "account": account,
        "organization": account.organization.name or account.organization.org_id,
        "justification_required": policy.justification_required,
    }
    return _page(request, "access/restore_form.html", context)


@personal_link_page
def extend(request, token: str):
    """The personal link from an access-ending warning: ask to keep the access longer."""
    return _ask_through_link(
        request,
        token,
        name="end",
        resolve=resolve_extension_link,
        form_class=ExtendForm,
        create=lambda end, **asked: extension_request_create(end=end, nonce=end.nonce, **asked),
        refused=EndRefused,
        templates=("access/extend_form.html", "access/extend_status.html"),
    )


@personal_link_page
def review(request, token: str):
    """The personal link from the email of an access review that removed access: ask for it back."""
    return _ask_through_link(
        request,
        token,
        name="item",
        resolve=resolve_give_back_link,
        form_class=GiveBackForm,
        create=lambda item, **asked: give_back_request_create(item=item, nonce=item.give_back_nonce, **asked),
        refused=ReviewRefused,
        templates=("access/review_give_back_form.html", "access/review_give_back_sent.html"),
    )


def _ask_through_link(request, token: str, *, name, resolve, form_class, create, refused, templates):
    """A page behind a personal link where the person asks for something with a justification:
    the link's own rate limit, one generic page for a bad link, the form, the per-person limit on
    submissions, then ``create`` (the service, which checks the link's one-use nonce) and the
    page saying it was sent. ``name``: what ``resolve(token)`` returns, as the templates call it."""
    limited = throttle.limited(request, "restore", token=token)
    if limited is not None:
        return limited
    subject = resolve(token)
    if subject is None:
        return _bad_link(request)
    account = subject.account
    form = form_class(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        limited = throttle.limited(request, "restore-submit", email=account.email or f"account:{account.pk}")
        if limited is not None:
            return limited
        if form.is_valid():
            try:
                subject = create(
                    subject,
                    justification=form.cleaned_data["justification"],
                    client_ip=getattr(request, "client_ip", None) or client_ip(request),
                )
            except refused:
                return _bad_link(request)
            return _page(request, templates[1], {name: subject})
    context = {
        "form": form,
        name: subject,
        "account": account,
        "organization": account.organization.name or account.organization.org_id,
    }
    return _page(request, templates[0], context)
