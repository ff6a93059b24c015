"""Google Drive downloads: file-id URLs and the "can't scan for viruses" confirmation page.

Several ZS-SBIR archives (Sketchy, Sketchy-Extended, TU-Berlin-Extended) are published as
Google Drive files. Drive answers a download request for a large file with an HTML page
instead of the file; the real download sits behind that page:

- current Drive: a ``<form id="download-form" action="https://drive.usercontent.google.com/
  download">`` whose hidden inputs (``id``, ``export``, ``confirm``, ``uuid``) form the query;
- older Drive: a link ``/uc?export=download&confirm=<token>&id=<id>``, or a
  ``download_warning_*`` cookie holding the token.

:func:`next_url` turns such a page into the URL to request next. Pages that lead nowhere
(quota exceeded, access denied, sign-in) raise :class:`~zsbir.data.base.DatasetError`
saying what to do instead. The downloader (:mod:`zsbir.data.acquire.fetch`) calls it whenever a
server answers ``text/html`` where an archive was expected, so any mirror that uses the same
scheme (and the tests' 127.0.0.1 server) takes the same path.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from zsbir.data.base import DatasetError

DRIVE_DOWNLOAD = "https://drive.google.com/uc"
SCHEME = "gdrive://"  # ``gdrive://<file id>`` in a dataset's list of locations
_QUERY_KEYS = {"export", "id", "resourcekey"}
_CONFIRM_LINK = re.compile(r"""href=["']([^"']*confirm=[^"']*)["']""")
_DEAD_ENDS = {
    "too many users have viewed or downloaded this file recently": "its download quota is "
    "used up for now (try again in 24 h)",
    "quota exceeded": "its download quota is used up for now (try again in 24 h)",
    "you need access": "the file is not public",
    "access denied": "the file is not public",
    "sign in": "Drive asks to sign in (the file is not public or was removed)",
    "sorry, the file you have requested does not exist": "the file was removed",
}


def drive_url(location: str) -> str:
    """``gdrive://<id>[?resourcekey=<key>]`` → Drive's download URL; other URLs unchanged.

    Files shared before Drive's 2021 security update (ids ``0B...``) need their
    ``resourcekey`` in the request.
    """
    if not location.startswith(SCHEME):
        return location
    file_id, _, extra = location.removeprefix(SCHEME).partition("?")
    query = {"export": "download", "id": file_id, **dict(parse_qsl(extra))}
    if not re.fullmatch(r"[A-Za-z0-9_-]{10,}", file_id) or not set(query) <= _QUERY_KEYS:
        raise DatasetError(f"{location}: not gdrive://<file id>[?resourcekey=<key>]")
    return f"{DRIVE_DOWNLOAD}?{urlencode(query)}"


class _DownloadForm(HTMLParser):
    """Collects the ``download-form``'s action and hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id") == "download-form":
            self.action, self._inside = a.get("action", ""), True
        elif tag == "input" and self._inside and a.get("type") == "hidden" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def _with_query(url: str, extra: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(extra)
    return urlunsplit(parts._replace(query=urlencode(query)))


def next_url(page: str, page_url: str, cookies: Mapping[str, str] | None = None) -> str:
    """The URL that the confirmation ``page`` (served at ``page_url``) leads to.

    Raises :class:`DatasetError` naming ``page_url`` and the reason when the page is a dead
    end or not a confirmation page at all.
    """
    form = _DownloadForm()
    form.feed(page)
    if form.action is not None:
        action = urljoin(page_url, form.action) if form.action else page_url
        return _with_query(action, form.fields)
    if link := _CONFIRM_LINK.search(page):
        return urljoin(page_url, html.unescape(link.group(1)))
    for name, token in (cookies or {}).items():
        if name.startswith("download_warning"):
            return _with_query(page_url, {"confirm": token})
    text = re.sub(r"<[^>]+>", " ", page).lower()
    for phrase, reason in _DEAD_ENDS.items():
        if phrase in text:
            raise DatasetError(
                f"download of {page_url} stopped at a Google Drive page: {reason}. Download "
                "the archive in a browser and point params key 'data.source' at its folder"
            )
    title = re.search(r"<title>(.*?)</title>", page, re.DOTALL | re.IGNORECASE)
    raise DatasetError(
        f"{page_url} answered an HTML page ({(title.group(1).strip() if title else 'untitled')!r})"
        " instead of the archive, and it holds no download link"
    )
