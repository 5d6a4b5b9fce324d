"""``{% fast_result_list cl %}``: Django's ``{% result_list cl %}`` with the rows written directly
(governance.admin_tools.rows), for the lists whose pages are long and busy (accounts)."""

from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode

from governance.admin_tools.rows import fast_result_list

register = template.Library()


@register.tag(name="fast_result_list")
def fast_result_list_tag(parser, token):
    # django-stubs spells this constructor as (name, template_name, ...); Django's is (parser, token, ...).
    return InclusionAdminNode(  # type: ignore[call-arg]
        parser, token, func=fast_result_list, template_name="change_list_results.html", takes_context=False
    )
