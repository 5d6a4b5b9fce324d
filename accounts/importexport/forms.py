"""The admin's import forms: django-import-export's, plus the organization and the size limit."""

from django import forms
from import_export.forms import ConfirmImportForm, ImportForm

from accounts.importexport.formats import UploadRefused, check_size
from accounts.models import Organization


def _organization_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=Organization.objects.order_by("name", "org_id"),
        label="Organization",
        help_text="The Atlassian organization whose accounts the file describes.",
    )


class AccountImportForm(ImportForm):
    """Upload step: kind of import (the library's “resource”), organization, file, format."""

    organization = _organization_field()
    field_order = ["resource", "organization", "import_file", "format"]

    def __init__(self, formats, resources, **kwargs):
        super().__init__(formats, resources, **kwargs)
        self.fields["resource"].label = "What the file is"
        only = list(Organization.objects.order_by("pk")[:2])
        if len(only) == 1:
            self.fields["organization"].initial = only[0].pk

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        try:
            check_size(upload.size)
        except UploadRefused as exc:
            raise forms.ValidationError(str(exc)) from None
        return upload


class AccountConfirmImportForm(ConfirmImportForm):
    """Confirm step: the stored upload, plus what the preview showed (``plan_digest``)."""

    organization = _organization_field()
    plan_digest = forms.CharField(widget=forms.HiddenInput(), max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].widget = forms.HiddenInput()
