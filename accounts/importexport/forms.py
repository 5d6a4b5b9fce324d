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


def _exported_at_field() -> forms.DateTimeField:
    return forms.DateTimeField(
        label="Exported at",
        required=False,
        help_text=(
            "Atlassian admin CSV export only: when admin.atlassian.com produced the file (in the portal's time "
            "zone, e.g. 2026-11-20 14:30; your browser's downloads list shows it). Atlassian's exports carry no "
            "date of their own; without this, the file counts as of the latest date inside it. Whatever the "
            "mirror holds that is newer than the file (a sync, an import of a newer file) is kept, and the "
            "preview lists it."
        ),
    )


class AccountImportForm(ImportForm):
    """Upload step: kind of import (the library's “resource”), organization, file, export time, format."""

    organization = _organization_field()
    exported_at = _exported_at_field()
    field_order = ["resource", "organization", "import_file", "exported_at", "format"]

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
    exported_at = _exported_at_field()
    plan_digest = forms.CharField(widget=forms.HiddenInput(), max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].widget = forms.HiddenInput()
        self.fields["exported_at"].widget = forms.HiddenInput()
