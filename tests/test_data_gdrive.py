"""Google Drive: file-id URLs and the confirmation pages in front of large files."""

import pytest

from zsbir.data.acquire import gdrive
from zsbir.data.base import DatasetError

PAGE = "https://drive.google.com/uc?export=download&id=1z4--ToTXYb0-2cLuUWPYM5m7ST7Ob3Ck"


def test_drive_url_from_id() -> None:
    assert gdrive.drive_url("gdrive://1z4--ToTXYb0-2cLuUWPYM5m7ST7Ob3Ck") == PAGE
    assert gdrive.drive_url("https://example.org/a.zip") == "https://example.org/a.zip"
    assert gdrive.drive_url("gdrive://0B7ISyeE8QtDdTjE1MG9Gcy1kSkE?resourcekey=0-r6nB4") == (
        "https://drive.google.com/uc?export=download&id=0B7ISyeE8QtDdTjE1MG9Gcy1kSkE"
        "&resourcekey=0-r6nB4"
    )
    for bad in ("gdrive://a/b", "gdrive://0B7ISyeE8QtDdTjE1MG9Gcy1kSkE?token=1"):
        with pytest.raises(DatasetError, match="not gdrive://<file id>"):
            gdrive.drive_url(bad)


def test_current_download_form_becomes_its_query() -> None:
    page = """<html><body><form id="download-form" action="https://drive.usercontent.google.com/download"
      method="get"><input type="submit" value="Download anyway"/>
      <input type="hidden" name="id" value="XYZ">
      <input type="hidden" name="export" value="download">
      <input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="u-1">
      </form><form id="other"><input type="hidden" name="x" value="1"></form></body></html>"""
    assert gdrive.next_url(page, PAGE) == (
        "https://drive.usercontent.google.com/download?id=XYZ&export=download&confirm=t&uuid=u-1"
    )


def test_legacy_confirm_link_and_cookie() -> None:
    link = '<a id="uc-download-link" href="/uc?export=download&amp;confirm=AbC1&amp;id=XYZ">x</a>'
    assert (
        gdrive.next_url(link, PAGE)
        == "https://drive.google.com/uc?export=download&confirm=AbC1&id=XYZ"
    )
    page = "<html><title>Google Drive</title><body>warning</body></html>"
    url = gdrive.next_url(page, PAGE, {"NID": "1", "download_warning_123_XYZ": "tok"})
    assert url == PAGE + "&confirm=tok"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Too many users have viewed or downloaded this file recently.", "quota"),
        ("<title>Sign in - Google Accounts</title>", "sign in"),
        ("You need access. Ask for access, or switch to an account with access.", "not public"),
    ],
)
def test_dead_ends_say_what_to_do(text: str, reason: str) -> None:
    with pytest.raises(DatasetError, match=f"{reason}.*data.source"):
        gdrive.next_url(f"<html><body>{text}</body></html>", PAGE)


def test_unknown_page_is_named() -> None:
    with pytest.raises(DatasetError, match="HTML page \\('Maintenance'\\) instead of the archive"):
        gdrive.next_url("<html><title>Maintenance</title></html>", "http://mirror/a.zip")
