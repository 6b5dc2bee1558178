"""Text out of what users upload: plain text, Markdown, HTML, PDF (pypdf), Word .docx
(python-docx). Anything else, and anything broken or hostile, is refused with the reason.

The type is decided by the file name's extension, then checked against the bytes: a PDF named
`notes.txt` is refused as a PDF that claims to be text, not stored as garbage. A .docx is a zip:
its declared sizes are checked before anything is decompressed (a zip bomb is refused without
being inflated). Parsing is CPU work: callers run `extract` in a thread.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

from callplane.crawler.extract import html_to_text
from callplane.knowledge.errors import UnreadableDocument, UnsupportedDocumentType

MAX_PDF_PAGES = 2000
MAX_DOCX_UNCOMPRESSED = 50 * 1024 * 1024  # all members of the zip together, as declared
MAX_DOCX_RATIO = 100  # uncompressed / compressed, per member
MAX_DOCX_MEMBERS = 2000

TYPES = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
_BY_MEDIA_TYPE = {media: ext for ext, media in TYPES.items()}
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


@dataclass(frozen=True)
class Extracted:
    content_type: str
    text: str
    title: str | None


def media_type_of(filename: str | None, declared: str | None) -> str:
    """The document type: from the extension, else from the part's declared media type."""
    suffix = PurePath(filename or "").suffix.lower()
    if suffix in TYPES:
        return TYPES[suffix]
    media = (declared or "").split(";")[0].strip().lower()
    if media in _BY_MEDIA_TYPE:
        return media
    shown = suffix or media or "no type"
    raise UnsupportedDocumentType(
        f"Unsupported document type ({shown}); upload .txt, .md, .html, .pdf or .docx."
    )


def extract(data: bytes, media_type: str) -> Extracted:
    """The text of a document of `media_type` (as given by `media_type_of`)."""
    if not data.strip():
        raise UnreadableDocument("The document is empty.", code="document_empty")
    if media_type == "application/pdf":
        return _pdf(data)
    if media_type == TYPES[".docx"]:
        return _docx(data)
    return text_document(_decode(data, media_type), media_type)


def text_document(text: str, media_type: str) -> Extracted:
    """A text, Markdown or HTML document given as text."""
    title: str | None = None
    if media_type == "text/html":
        found = _TITLE.search(text)
        title = html_to_text(found.group(1)).strip() or None if found else None
        text = _html_text(text)
    elif media_type == "text/markdown":
        heading = _MARKDOWN_HEADING.search(text)
        title = heading.group(1) if heading else None
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise UnreadableDocument("The document has no text.", code="document_empty")
    return Extracted(media_type, text, title[:500] if title else None)


def _html_text(html: str) -> str:
    """The readable text of a page: no scripts, styles or head; a line per block."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    tree.strip_tags(["script", "style", "noscript", "template", "svg", "head"])
    root = tree.body or tree.root
    if root is None:
        return ""
    lines = (" ".join(line.split()) for line in root.text(separator="\n", strip=True).splitlines())
    return "\n".join(line for line in lines if line)


def _decode(data: bytes, media_type: str) -> str:
    if data.startswith(b"%PDF-"):
        raise UnreadableDocument(
            f"The file is a PDF, not {media_type}: upload it with a .pdf name.",
            code="document_type_mismatch",
        )
    if data.startswith(b"PK\x03\x04"):
        raise UnreadableDocument(
            f"The file is a zip archive (a .docx?), not {media_type}.",
            code="document_type_mismatch",
        )
    if b"\x00" in data:
        raise UnreadableDocument(
            f"The file is binary, not {media_type}.", code="document_type_mismatch"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableDocument(
            "The file is not UTF-8 text.", code="document_type_mismatch"
        ) from None


def _pdf(data: bytes) -> Extracted:
    from pypdf import PdfReader  # loaded on the first PDF

    if b"%PDF-" not in data[:1024]:
        raise UnreadableDocument("The file is not a PDF.", code="document_type_mismatch")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument(
                "The PDF is encrypted with a password.", code="document_encrypted"
            )
        if len(reader.pages) > MAX_PDF_PAGES:
            raise UnreadableDocument(
                f"The PDF has more than {MAX_PDF_PAGES} pages.", code="document_too_large"
            )
        pages = [page.extract_text() or "" for page in reader.pages]
        title = reader.metadata.title if reader.metadata else None
    except UnreadableDocument:
        raise
    except Exception as error:  # untrusted bytes: the parser may fail in any way it likes
        raise UnreadableDocument(
            f"The PDF cannot be read ({type(error).__name__}).", code="document_broken"
        ) from None
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise UnreadableDocument(
            "The PDF has no text layer (a scan?); nothing to search.", code="document_empty"
        )
    return Extracted("application/pdf", text, str(title)[:500] if title else None)


def _docx(data: bytes) -> Extracted:
    if not data.startswith(b"PK\x03\x04"):
        raise UnreadableDocument("The file is not a .docx document.", code="document_broken")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as error:
        raise UnreadableDocument(
            f"The .docx cannot be read ({error}).", code="document_broken"
        ) from None
    if len(members) > MAX_DOCX_MEMBERS:
        raise UnreadableDocument("The .docx has too many parts.", code="document_too_large")
    total = 0
    for member in members:
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if total > MAX_DOCX_UNCOMPRESSED or (
            member.file_size > 1024 * 1024 and ratio > MAX_DOCX_RATIO
        ):
            raise UnreadableDocument(
                "The .docx expands to more than it can hold (a zip bomb?).",
                code="document_too_large",
            )
    import docx  # loaded on the first .docx

    try:
        document = docx.Document(io.BytesIO(data))
        parts = [paragraph.text for paragraph in document.paragraphs]
        for table in document.tables:
            for row in table.rows:
                parts.append(" | ".join(cell.text for cell in row.cells))
        title = document.core_properties.title or None
    except Exception as error:  # untrusted bytes: the parser may fail in any way it likes
        raise UnreadableDocument(
            f"The .docx cannot be read ({type(error).__name__}).", code="document_broken"
        ) from None
    text = "\n".join(part.strip() for part in parts if part.strip())
    if not text:
        raise UnreadableDocument("The .docx has no text.", code="document_empty")
    return Extracted(TYPES[".docx"], text, title[:500] if title else None)
