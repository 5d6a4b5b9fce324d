"""Import and export on the accounts admin: ``AccountImportExportMixin``.

Put it first among the bases of the account ModelAdmin::

    class AccountAdmin(AccountImportExportMixin, admin.ModelAdmin): ...

It is django-import-export's ``ImportExportMixin`` (its URLs ``accounts_account_import``,
``..._process_import`` and ``..._export``, its changelist buttons, upload/confirm/export forms,
temporary storage of the upload between the two steps, and permission hooks driven by
``IMPORT_EXPORT_IMPORT_PERMISSION_CODE`` / ``..._EXPORT_PERMISSION_CODE``), with three methods
replaced:

- ``import_action`` and ``process_import``: the library previews by running ``import_data`` in a
  transaction it rolls back, then imports by running it again, saving model instances row by row.
  That cannot express these imports. Account changes live in Atlassian: each one is an HTTP call
  made *outside* any transaction (a service), which no rollback undoes, so every row must be
  validated before the first call, and a failure after some calls must be reported row by row
  rather than rolled back. Seeding the mirror writes 100,000 rows at a time, which per-row saves
  cannot do at a useful speed. So the preview is :func:`views.build_preview` (nothing written), and
  confirm re-plans against the current mirror, refuses if the plan differs from what was shown,
  then runs :func:`apply.apply_changes` or :func:`seed.apply_seed`.
- ``_do_file_export``: the library builds every export in memory from per-row rendering; here
  CSV streams (``StreamingHttpResponse``) from rows built in bulk, XLSX is written in openpyxl's
  write-only mode and capped at ``xlsx_max_rows``, every cell goes through ``safe_cell``, and each
  download writes an ``export.downloaded`` audit event with the filters.

Permissions: import needs ``accounts.change_account`` (the ``change`` import permission code)
and ``accounts.change_membership`` (portal admins); status changes also need
``accounts.suspend_account`` / ``accounts.activate_account``, row by row. Export needs
``accounts.view_account`` (the ``view`` export permission code).
"""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST
from import_export.admin import ImportExportMixin
from import_export.formats.base_formats import CSV, XLSX
from import_export.forms import ExportForm
from import_export.signals import post_export

from accounts.clients import MissingCredentials, client_for
from accounts.importexport.apply import ChangePlan, apply_changes
from accounts.importexport.background import import_start_in_background
from accounts.importexport.formats import xlsx_bytes
from accounts.importexport.forms import AccountConfirmImportForm, AccountImportForm
from accounts.importexport.resources import (
    AccountChangesImport,
    AccountExportResource,
    AtlassianExportSeed,
    account_record,
)
from accounts.importexport.seed import SeedPlan, apply_seed
from accounts.importexport.views import CHANGES, build_preview
from governance.audit.models import AuditAction
from governance.audit.record import Actor, record_event
from governance.csvexport import safe_cell, streaming_csv_response
from governance.runs.models import RunStatus, TaskRun

_TEMPLATES = "admin/accounts/importexport/"
logger = logging.getLogger(__name__)


class AccountImportExportMixin(ImportExportMixin):
    """Import (services-based changes, or a seed from Atlassian's CSV) and export for the account admin."""

    resource_classes = [AccountExportResource]
    import_resource_classes = [AccountChangesImport, AtlassianExportSeed]
    import_form_class = AccountImportForm
    confirm_form_class = AccountConfirmImportForm
    export_form_class = ExportForm
    import_export_change_list_template = _TEMPLATES + "change_list.html"
    import_template_name = _TEMPLATES + "import.html"
    import_result_template_name = _TEMPLATES + "import_result.html"
    xlsx_max_rows = 100_000
    export_chunk_size = 2000

    # -- Templates: keep a model-specific change_list.html working under the library's buttons --------

    @property
    def ie_base_change_list_template(self) -> str:
        """The changelist template the import/export buttons extend.

        The library uses the ModelAdmin's explicit ``change_list_template`` or else the generic
        ``admin/change_list.html``, which would hide an ``admin/accounts/account/change_list.html``
        that the admin finds by convention. Look that one up first.
        """
        explicit: str | None = getattr(self, "_ie_explicit_template", None)
        if explicit:
            return explicit
        opts = self.model._meta
        names = [f"admin/{opts.app_label}/{opts.model_name}/change_list.html", "admin/change_list.html"]
        name = select_template(names).template.name
        assert name is not None  # found by one of these names
        return name

    @ie_base_change_list_template.setter
    def ie_base_change_list_template(self, value: str) -> None:
        self._ie_explicit_template = None if value == "admin/change_list.html" else value

    # -- Formats, resources, permissions ----------------------------------------------------------------

    def get_import_formats(self):
        return [CSV]

    def get_export_formats(self):
        return [CSV, XLSX]

    def get_import_resource_classes(self, request):
        return self.import_resource_classes

    def get_export_resource_classes(self, request):
        return self.resource_classes

    def has_import_permission(self, request) -> bool:
        return super().has_import_permission(request) and request.user.has_perm("accounts.change_membership")

    def get_atlassian_client(self, organization):
        """The client the services use for ``organization`` (tests may override)."""
        return client_for(organization)

    # -- Export -------------------------------------------------------------------------------------

    def export_action(self, request):
        try:
            return super().export_action(request)
        except IncorrectLookupParameters as exc:
            return HttpResponseBadRequest(f"The filters are not valid: {exc}", content_type="text/plain")

    def _do_file_export(self, file_format, request, queryset, export_form=None):
        if not self.has_export_permission(request):
            raise PermissionDenied
        resource = self.choose_export_resource_class(export_form, request)(**self.get_export_resource_kwargs(request))
        filename = self.get_export_filename(request, queryset, file_format)
        is_xlsx = isinstance(file_format, XLSX)
        total = queryset.count()
        if is_xlsx and total > self.xlsx_max_rows:
            # Raised as ValueError: export_action shows it on the export form.
            raise ValueError(
                f"{total:,} accounts are too many for an XLSX file (at most {self.xlsx_max_rows:,}). "
                "Choose CSV, which streams any number of rows, or narrow the filters."
            )
        header, rows = resource.rows(queryset, chunk_size=self.export_chunk_size)
        record_event(
            actor=Actor.from_request(request),
            action=AuditAction.EXPORT_DOWNLOADED,
            target_type="accounts.account",
            target_repr=f"accounts {'XLSX' if is_xlsx else 'CSV'}",
            after={"format": "xlsx" if is_xlsx else "csv", "rows": total, "filters": dict(request.GET.items())},
        )
        response: HttpResponseBase
        if is_xlsx:
            content = xlsx_bytes(map(safe_cell, header), ([safe_cell(c) for c in row] for row in rows))
            response = HttpResponse(content, content_type=file_format.get_content_type())
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            response["Cache-Control"] = "no-store"
        else:
            response = streaming_csv_response(filename, header, rows, record=account_record)
        post_export.send(sender=None, model=self.model)
        return response

    def get_export_filename(self, request, queryset, file_format):
        return f"accounts-{timezone.now():%Y-%m-%d}.{file_format.get_extension()}"

    # -- Import -------------------------------------------------------------------------------------

    def import_action(self, request, **kwargs):
        """Upload, then preview: what each row would change, or every error. Nothing is written."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = self.create_import_form(request)
        if request.method != "POST" or not form.is_valid():
            return self._import_page(request, form=form)
        upload = form.cleaned_data["import_file"]
        data = b"".join(upload.chunks())
        resource = self.choose_import_resource_class(form, request)
        organization = form.cleaned_data["organization"]
        # Stored before it is planned, not after: storing copies the file several times over (the cache
        # pickles and encodes it), which would otherwise come on top of the plan (~100 MB at 100,000 rows).
        storage = self._tmp_storage()
        storage.save(data)
        preview = build_preview(
            data=data,
            file_name=upload.name,
            kind=resource.kind,
            organization=organization,
            user=request.user,
            exported_at=form.cleaned_data.get("exported_at"),
        )
        del data  # planned: the page is drawn from the plan
        confirm_form = None
        if preview.ok and preview.changes:
            confirm_form = self._confirm_form(request, form.cleaned_data, storage.name, upload.name, preview)
        else:
            storage.remove()  # nothing to confirm: nothing kept
        return self._import_page(request, form=form, preview=preview, confirm_form=confirm_form)

    @method_decorator(require_POST)
    def process_import(self, request, **kwargs):
        """Confirm: plan again against the mirror as it is now, then apply exactly what was previewed."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        confirm = self.create_confirm_form(request)
        if not confirm.is_valid():
            messages.error(request, "The confirmation was incomplete; upload the file again.")
            return HttpResponseRedirect(self._import_url())
        storage = self._tmp_storage(name=confirm.cleaned_data["import_file_name"])
        try:
            data = storage.read()
        except FileNotFoundError:
            data = None
        if not data:
            messages.error(request, "The uploaded file is no longer available (uploads expire); upload it again.")
            return HttpResponseRedirect(self._import_url())
        resource = self.choose_import_resource_class(confirm, request)
        organization = confirm.cleaned_data["organization"]
        file_name = confirm.cleaned_data["original_file_name"]
        preview = build_preview(
            data=data,
            file_name=file_name,
            kind=resource.kind,
            organization=organization,
            user=request.user,
            exported_at=confirm.cleaned_data.get("exported_at"),
        )
        del data  # planned: the upload's bytes are not kept through the apply
        if not preview.ok or preview.fingerprint() != confirm.cleaned_data["plan_digest"]:
            again = None
            if preview.ok and preview.changes:
                messages.warning(request, "The mirror changed since the preview: review the new preview and confirm.")
                again = self._confirm_form(request, confirm.cleaned_data, storage.name, file_name, preview)
            else:
                storage.remove()
            form = self.create_import_form(request)
            return self._import_page(request, form=form, preview=preview, confirm_form=again)
        actor = Actor.from_request(request)
        if preview.changes > settings.IMPORT_BACKGROUND_ROWS:
            run = import_start_in_background(
                kind=resource.kind,
                storage_name=storage.name,
                file_name=file_name,
                organization=organization,
                exported_at=confirm.cleaned_data.get("exported_at"),
                plan_digest=preview.fingerprint(),
                changes=preview.changes,
                actor=actor,
            )
            messages.info(request, f"The import of {preview.changes:,} accounts runs in the background.")
            return HttpResponseRedirect(reverse(self._import_run_url_name(), args=[run.pk]))
        context = {"preview": preview, "organization": organization}
        plan = preview.plan  # a changes file is planned as ChangePlan, a seed as SeedPlan (build_preview)
        if resource.kind == CHANGES:
            assert isinstance(plan, ChangePlan)
            try:
                with self.get_atlassian_client(organization) as client:
                    report = apply_changes(plan=plan, client=client, actor=actor)
            except MissingCredentials as exc:
                messages.error(request, str(exc))
                return HttpResponseRedirect(self._import_url())
            context["report"] = report
            if report.ok:
                messages.success(request, f"Import applied in Atlassian: {len(report.outcomes)} rows changed.")
            else:
                failed = report.failed
                messages.error(
                    request,
                    f"Import stopped at row {failed.row if failed else '?'}: Atlassian refused a change. "
                    "Rows before it were applied; rows after it were not attempted, except those already "
                    "under way (several run at a time): each row below says how it ended.",
                )
        else:
            assert isinstance(plan, SeedPlan)
            try:
                outcome = apply_seed(plan=plan, actor=actor)
            except DatabaseError as exc:
                # apply_seed writes in one transaction, which the failure rolled back: say so
                # on the import page instead of a server error. The upload stays for a retry.
                logger.exception("Seed import of %r into %s failed; rolled back", file_name, organization)
                messages.error(request, f"The import was not applied: {exc}; nothing was changed.")
                return self._import_page(
                    request,
                    form=self.create_import_form(request),
                    preview=preview,
                    confirm_form=self._confirm_form(request, confirm.cleaned_data, storage.name, file_name, preview),
                )
            context["outcome"] = outcome
            messages.success(
                request,
                f"Mirror seeded from the file: {outcome.counts['created']} accounts created, "
                f"{outcome.counts['updated']} updated. Nothing was sent to Atlassian.",
            )
        storage.remove()
        return self._page(request, self.import_result_template_name, "Import result", context)

    # -- Background imports (accounts/importexport/background.py) ------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_run_view)
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}_import_run"
        return [path("import/run/<int:run_id>/", view, name=name), *super().get_urls()]

    def _import_run_url_name(self) -> str:
        opts = self.model._meta
        return f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_import_run"

    def import_run_view(self, request, run_id: int):
        """Progress, then the outcome, of an import applied in the background; refreshes itself."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        run = get_object_or_404(TaskRun, pk=run_id, name="import")
        progress = run.progress or {}
        done, total = progress.get("done") or 0, progress.get("total") or 0
        context = {
            "run": run,
            "running": run.status == RunStatus.RUNNING,
            "done": done,
            "total": total,
            "percent": int(100 * done / total) if total else 0,
            "kind": (run.counts or {}).get("kind", ""),
            "counts": [(name.replace("_", " "), n) for name, n in (run.counts or {}).items() if name != "kind"],
            "audit_url": reverse("admin:governance_auditevent_changelist") + f"?q={run.correlation_id}",
            "can_view_audit": request.user.has_perm("governance.view_auditevent"),
            "run_url": reverse("admin:governance_taskrun_change", args=[run.pk]),
            "can_view_runs": request.user.has_perm("governance.view_taskrun"),
        }
        return self._page(request, _TEMPLATES + "import_run.html", "Import in the background", context)

    # -- Helpers ------------------------------------------------------------------------------------

    def _tmp_storage(self, name: str | None = None):
        storage_class = self.get_tmp_storage_class()
        kwargs = {"read_mode": "rb", "encoding": None, **self.get_tmp_storage_class_kwargs()}
        return storage_class(name=name, **kwargs) if name else storage_class(**kwargs)

    def _confirm_form(self, request, cleaned, storage_name: str, file_name: str, preview):
        return self.get_confirm_form_class(request)(
            initial={
                "import_file_name": storage_name,
                "original_file_name": file_name,
                "format": cleaned.get("format", "0"),
                "resource": cleaned.get("resource", "0"),
                "organization": cleaned["organization"].pk,
                "exported_at": cleaned.get("exported_at") or "",
                "plan_digest": preview.fingerprint(),
            }
        )

    def _import_url(self) -> str:
        opts = self.model._meta
        return reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_import")

    def _import_page(self, request, *, form, preview=None, confirm_form=None):
        context = {"form": form, "preview": preview, "confirm_form": confirm_form, "media": self.media + form.media}
        return self._page(request, self.import_template_name, "Import accounts", context)

    def _page(self, request, template: str, title: str, context: dict):
        request.current_app = self.admin_site.name
        full = {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta, **context}
        return TemplateResponse(request, [template], full)
