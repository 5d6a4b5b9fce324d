"""CSV/XLSX import and export of accounts with their group memberships.

- :mod:`~accounts.importexport.resources`: the export (django-import-export resource; rows built in
  bulk per chunk of accounts) and the import kinds offered by the admin form.
- :mod:`~accounts.importexport.formats`: reading uploads (size and row limits, UTF-8 only, CSV) and
  writing XLSX.
- :mod:`~accounts.importexport.variants`: recognising the portal's CSV and Atlassian's exports.
- :mod:`~accounts.importexport.apply`: the portal's CSV applied in Atlassian through the services.
- :mod:`~accounts.importexport.seed`: Atlassian's exports loaded into the mirror, no API key needed.
- :mod:`~accounts.importexport.views` and :mod:`~accounts.importexport.admin`: the admin's upload,
  preview, confirm and download (``AccountImportExportMixin``).
"""
