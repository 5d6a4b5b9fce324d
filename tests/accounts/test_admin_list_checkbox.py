"""The account list writes each row's action checkbox itself (no widget rendered per row): the same HTML as Django's."""

import pytest
from django.contrib import admin
from django.utils import translation

from accounts.models import Account


@pytest.mark.parametrize(
    "fields",
    [
        {"pk": 7, "name": "Ann Smith"},
        {"pk": 123456, "name": '<b>"Tom" & Jerry\'s</b>', "email": "t@x.example"},
        {"pk": 9, "name": "", "email": "only@mail.example"},
        {"pk": 10, "name": "", "email": None, "account_id": "712020:ab<c>"},
    ],
)
@pytest.mark.parametrize("language", ["en", "de"])
def test_each_rows_checkbox_is_the_html_django_renders(fields, language):
    account = Account(**fields)
    account_admin = admin.site._registry[Account]
    with translation.override(language):
        assert account_admin.action_checkbox(account) == admin.ModelAdmin.action_checkbox(account_admin, account)
