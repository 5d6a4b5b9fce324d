"""Per-page additions to the Content-Security-Policy (``settings.CONTENT_SECURITY_POLICY``).

The policy allows scripts and styles from the portal's own files only. A page that cannot live with
that says so on its own response (django-csp merges ``response._csp_update`` into the policy, as its
``@csp_update`` decorator does).
"""

from csp.constants import UNSAFE_INLINE


def allow_inline_styles(response):
    """Inline styles on this page: for HTML the portal shows but did not write (an email preview in
    a sandboxed frame, which inherits the page's policy). Scripts stay blocked."""
    update = dict(getattr(response, "_csp_update", None) or {})
    update["style-src"] = [*update.get("style-src", []), UNSAFE_INLINE]
    response._csp_update = update
    return response
