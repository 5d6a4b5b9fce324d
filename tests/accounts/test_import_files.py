"""Reading uploads: encodings, limits, CSV quirks, and recognising which file it is."""

import codecs
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from accounts.importexport.formats import UploadRefused, read_csv, stream_csv, xlsx_bytes
from accounts.importexport.variants import Variant, classify, detect, parse_day

FIXTURES = Path(__file__).parent / "fixtures"


class TestEncodings:
    def test_utf8_with_and_without_a_byte_order_mark_read_the_same(self):
        text = "account_id,groups\r\nabc,Équipe Zürich\r\n"
        plain, bom = read_csv(text.encode()), read_csv(codecs.BOM_UTF8 + text.encode())
        assert plain.headers == bom.headers == ["account_id", "groups"]
        assert plain.rows == bom.rows == [(2, ["abc", "Équipe Zürich"])]

    def test_latin1_is_refused_with_the_line_and_what_to_do(self):
        data = "account_id,groups\nabc,team\nxyz,Équipe\n".encode("latin-1")
        with pytest.raises(UploadRefused, match=r"not UTF-8: byte 0xc9 on line 3 .* Save it as “CSV UTF-8”"):
            read_csv(data)

    def test_utf16_is_refused_by_name(self):
        data = "account_id,groups\r\nabc,team\r\n".encode("utf-16")
        with pytest.raises(UploadRefused, match="UTF-16"):
            read_csv(data)

    def test_binary_files_are_refused(self):
        with pytest.raises(UploadRefused, match="NUL character on line 1: it is not a text CSV file"):
            read_csv(bytes(range(256)) * 4)

    def test_a_nul_in_a_utf8_file_is_reported_on_its_line(self):
        with pytest.raises(UploadRefused, match="NUL character on line 3"):
            read_csv(b"account_id,groups\nabc,team\nxyz,te\x00am\n")

    @pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
    def test_utf16_without_a_byte_order_mark_is_named_not_reported_as_a_nul(self, codec):
        data = "account_id,groups\r\nabc,Équipe Zürich\r\n".encode(codec)
        with pytest.raises(UploadRefused) as refused:
            read_csv(data)
        message = str(refused.value)
        assert message.startswith("This file looks like UTF-16 without a byte-order mark")
        assert "Save it as “CSV UTF-8 (comma delimited)”" in message
        assert "holds a NUL character" not in message

    def test_an_xlsx_workbook_under_a_csv_name_is_named_not_reported_as_windows_1252(self):
        data = xlsx_bytes(["account_id", "groups"], [["abc", "team"]])
        assert data.startswith(b"PK\x03\x04")
        with pytest.raises(UploadRefused) as refused:
            read_csv(data)
        message = str(refused.value)
        assert message.startswith("This file is an Excel workbook (XLSX), not a CSV file")
        assert "“CSV UTF-8 (comma delimited)”" in message
        assert "Windows-1252" not in message

    def test_another_zip_archive_is_named_as_such(self):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("content.xml", "<office:document/>")
        with pytest.raises(UploadRefused, match="This file is a ZIP archive"):
            read_csv(buffer.getvalue())


class TestLimits:
    def test_a_file_over_the_byte_limit_is_refused_with_both_sizes(self, settings):
        settings.IMPORT_MAX_BYTES = 1024
        with pytest.raises(UploadRefused, match=r"The file is 0\.0 MB; imports are limited to 0\.0 MB"):
            read_csv(b"account_id,groups\n" + b"x,y\n" * 400)

    def test_the_default_byte_limit_is_five_megabytes(self):
        from django.conf import settings

        assert settings.IMPORT_MAX_BYTES == 5 * 1024 * 1024

    def test_a_file_over_the_row_limit_is_refused(self, settings):
        settings.IMPORT_MAX_ROWS = 3
        with pytest.raises(UploadRefused, match=r"more than 3 rows \(IMPORT_MAX_ROWS\)"):
            read_csv(b"account_id,groups\n" + b"x,y\n" * 4)
        assert len(read_csv(b"account_id,groups\n" + b"x,y\n" * 3).rows) == 3


class TestCsvShape:
    def test_rows_are_numbered_as_a_spreadsheet_shows_them_and_blank_lines_skipped(self):
        table = read_csv(b'account_id,groups\r\na,"x;\r\ny"\r\n\r\nb,z\r\n')
        assert [number for number, _ in table.rows] == [2, 4]

    def test_short_rows_are_padded_and_long_rows_are_errors(self):
        table = read_csv(b"account_id,groups,status\na\nb,g,active,extra\nc,g,active,\n")
        assert table.rows[0] == (2, ["a", "", ""])
        assert [str(e) for e in table.errors] == ["Row 3: it has 4 cells but the header names 3 columns"]
        assert table.rows[1] == (4, ["c", "g", "active"])

    def test_old_mac_line_endings_and_line_breaks_inside_quotes_are_read_as_a_text_file_would_be(self):
        table = read_csv(b'\xef\xbb\xbfaccount_id,groups\ra,"x\ry\n\xc3\xa9"\rb,\xc3\xa9t\xc3\xa9\r\nc,z')
        assert table.headers == ["account_id", "groups"]
        assert table.rows == [(2, ["a", "x\ry\né"]), (3, ["b", "été"]), (4, ["c", "z"])]

    def test_semicolon_separated_files_are_read(self):
        assert read_csv(b"account_id;status\na;active\n").rows == [(2, ["a", "active"])]

    @pytest.mark.parametrize("data", [b"", b"\n\n", b"account_id,groups\n"])
    def test_empty_files_are_refused(self, data):
        with pytest.raises(UploadRefused):
            read_csv(data)


class TestVariants:
    @pytest.mark.parametrize(
        ("name", "variant"),
        [
            ("atlassian_users_export.csv", Variant.USERS),
            ("atlassian_users_export_pivot.csv", Variant.USERS),
            ("atlassian_users_export_rows_per_group.csv", Variant.USERS),
            ("atlassian_managed_accounts_export.csv", Variant.MANAGED),
            ("atlassian_legacy_site_export.csv", Variant.LEGACY),
        ],
    )
    def test_each_atlassian_export_is_recognised_from_its_header(self, name, variant):
        assert detect(read_csv((FIXTURES / name).read_bytes()).headers) == variant

    def test_the_portal_csv_is_recognised(self):
        assert detect(["Account_ID ", "groups"]) == Variant.PORTAL
        assert detect(["email", "status"]) == Variant.PORTAL

    def test_an_unknown_file_is_refused_naming_what_was_expected_and_what_was_found(self):
        headers = read_csv((FIXTURES / "not_an_atlassian_export.csv").read_bytes()).headers
        with pytest.raises(UploadRefused) as refused:
            detect(headers)
        message = str(refused.value)
        assert "“User id”" in message
        assert "“Atlassian ID”" in message
        assert "“username”" in message
        assert "“Employee number”, “First name”, “Last name”, “Department”" in message

    def test_ignored_columns_are_listed_and_product_columns_understood(self):
        headers = read_csv((FIXTURES / "atlassian_users_export.csv").read_bytes()).headers
        columns, ignored, errors = classify(headers, Variant.USERS)
        assert ignored == ["Two-step verification"]
        assert errors == []
        described = {c.header: c.describe() for c in columns}
        assert (
            described["Last seen in Jira Service Management - acme"] == "last active in Jira Service Management on acme"
        )
        assert described["Confluence - acme"] == "access to Confluence on acme"

    def test_a_column_named_twice_is_an_error(self):
        _, _, errors = classify(["User id", "email", "Email "], Variant.USERS)
        assert [str(e) for e in errors] == ["Row 1: the column “Email ” appears twice (also as “email”)"]


class TestDates:
    @pytest.mark.parametrize(
        "text", ["14 Dec 2025", "14 December 2025", " 14  dec 2025 ", "Dec 14, 2025", "2025-12-14", "14-Dec-2025"]
    )
    def test_atlassian_date_spellings(self, text):
        assert parse_day(text) == datetime(2025, 12, 14, tzinfo=UTC)

    @pytest.mark.parametrize("text", ["Never accessed", "Never Accessed", "Never logged in", "", "  "])
    def test_never_is_none(self, text):
        assert parse_day(text) is None

    @pytest.mark.parametrize("text", ["31 Feb 2025", "14 Dez 2025", "yesterday", "14/12/2025"])
    def test_anything_else_is_an_error(self, text):
        with pytest.raises(ValueError, match="is not a date"):
            parse_day(text)


class TestStreaming:
    """A seed's preview reads the file's rows as it makes its records (``stream_csv``): the same rows,
    errors and refusals as reading it whole, the refusals that need the rows raised while reading."""

    USERS_HEADER = b"User id,User name,email,User status,Added to org\n"

    def test_streamed_rows_and_errors_are_those_read_whole(self):
        data = b'account_id,groups,status\r\na\nb,g,active,extra\n\nc,"x\ry",active,\n'
        whole = read_csv(data)
        table, rows = stream_csv(data)
        assert table.headers == whole.headers
        assert table.rows == []
        assert table.errors == []
        assert list(rows) == whole.rows
        assert table.errors == whole.errors

    @pytest.mark.django_db
    @pytest.mark.parametrize(
        "body",
        [
            b"a1,Ann,ann@example.com,Active,1 Dec 2025\n" * 4,  # over IMPORT_MAX_ROWS (3)
            b"a1,Ann,ann@example.com,Active,1 Dec 2025\n" + b'b1,"' + b"x" * 200_000 + b'",,Active,\n',  # not CSV
            b"",  # a header but no rows
        ],
        ids=["too-many-rows", "invalid-csv", "no-rows"],
    )
    def test_a_refusal_met_while_streaming_is_the_preview_s_refusal_reading_whole_gives(self, body, settings):
        from accounts.importexport.views import SEED, build_preview
        from tests.factories import OrganizationFactory

        settings.IMPORT_MAX_ROWS = 3
        data = self.USERS_HEADER + body
        with pytest.raises(UploadRefused) as whole:
            read_csv(data)
        _, rows = stream_csv(data)  # the header is fine: refused only while the rows are read
        with pytest.raises(UploadRefused):
            list(rows)
        preview = build_preview(data=data, file_name="f.csv", kind=SEED, organization=OrganizationFactory(), user=None)
        assert preview.refused == str(whole.value)
        assert preview.plan is None
        assert not preview.ok
