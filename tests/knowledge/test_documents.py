"""Collections users manage, and their documents: text, Markdown, HTML, PDF and .docx files made
in the test, broken and hostile files refused with nothing stored."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator

import pytest
from pypdf import PdfWriter

from tests.factories import Tenant

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def pdf_bytes(pages: list[str], *, password: str | None = None) -> bytes:
    """A real PDF with one line of text per page (Helvetica, a content stream per page)."""
    writer = PdfWriter()
    for text in pages:
        page = writer.add_blank_page(612, 792)
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        from pypdf.generic import (
            DecodedStreamObject,
            DictionaryObject,
            NameObject,
        )

        font = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
        )
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    if password:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


async def new_collection(tenant: Tenant, **body: object) -> str:
    response = await tenant.post("/core/knowledge-collections", json={"name": "Docs", **body})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def upload(
    tenant: Tenant, collection_id: str, name: str, data: bytes, media: str = ""
) -> object:
    files = {"file": (name, data, media or "application/octet-stream")}
    return await tenant.post(f"/core/knowledge-collections/{collection_id}/documents", files=files)


async def count_documents(tenant: Tenant, collection_id: str) -> int:
    response = await tenant.get(f"/core/knowledge-collections/{collection_id}/documents?limit=100")
    assert response.status_code == 200, response.text
    return len(response.json()["data"])


async def top_hit(tenant: Tenant, collection_id: str, query: str) -> dict:
    response = await tenant.post(
        f"/core/knowledge-collections/{collection_id}/search", json={"query": query}
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results, f"nothing found for {query!r}"
    return dict(results[0])


async def test_collection_crud_and_filters(tenant: Tenant, other_tenant: Tenant) -> None:
    first = await new_collection(tenant, name="Product manuals", description="PDFs")
    await new_collection(tenant, name="Support FAQ", refresh_interval_hours=24)
    listed = (await tenant.get("/core/knowledge-collections?name=MANUAL")).json()["data"]
    assert [c["id"] for c in listed] == [first]
    assert listed[0]["description"] == "PDFs" and listed[0]["refresh_interval_hours"] is None
    path = f"/core/knowledge-collections/{first}"
    patched = await tenant.patch(path, json={"name": "Manuals", "refresh_interval_hours": 6})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Manuals" and patched.json()["refresh_interval_hours"] == 6
    cleared = await tenant.patch(path, json={"refresh_interval_hours": None})
    assert cleared.json()["refresh_interval_hours"] is None and cleared.json()["name"] == "Manuals"
    assert (await tenant.patch(path, json={"name": ""})).status_code == 422
    assert (await tenant.patch(path, json={"refresh_interval_hours": 0})).status_code == 422
    assert (await other_tenant.patch(path, json={"name": "x"})).status_code == 404
    assert (await other_tenant.delete(path)).status_code == 404
    assert (await tenant.delete(path)).status_code == 204
    assert (await tenant.get(path)).status_code == 404


async def test_a_collection_used_by_a_published_version_is_not_deleted(tenant: Tenant) -> None:
    collection_id = await new_collection(tenant)
    agent = await tenant.create_agent(name="Uses docs")
    config = {"instructions": "Help.", "knowledge_bases": [{"collection_id": collection_id}]}
    version = await tenant.post(f"/core/agents/{agent['id']}/versions", json={"config": config})
    assert version.status_code == 201, version.text
    path = f"/core/knowledge-collections/{collection_id}"
    assert (await tenant.delete(path)).status_code == 204  # a draft does not hold it
    collection_id = await new_collection(tenant)
    config = {"instructions": "Help.", "knowledge_bases": [{"collection_id": collection_id}]}
    version = await tenant.post(f"/core/agents/{agent['id']}/versions", json={"config": config})
    number = version.json()["version"]
    published = await tenant.post(f"/core/agents/{agent['id']}/versions/{number}/publish", json={})
    assert published.status_code == 200, published.text
    refused = await tenant.delete(f"/core/knowledge-collections/{collection_id}")
    assert refused.status_code == 409
    assert refused.json()["code"] == "knowledge_collection_in_use"
    assert (
        agent["id"] in refused.json()["detail"] and f"version {number}" in refused.json()["detail"]
    )
    assert (await tenant.get(f"/core/knowledge-collections/{collection_id}")).status_code == 200


async def test_json_documents_of_each_text_type(tenant: Tenant) -> None:
    collection_id = await new_collection(tenant)
    path = f"/core/knowledge-collections/{collection_id}/documents"
    plain = await tenant.post(path, json={"content": "Parking is free behind the building."})
    assert plain.status_code == 201, plain.text
    assert plain.json()["source"] == "text" and plain.json()["duplicate"] is False
    markdown = await tenant.post(
        path,
        json={
            "content": "# Refunds\n\nRefunds take **five** days.",
            "content_type": "text/markdown",
        },
    )
    assert markdown.json()["title"] == "Refunds"
    html = await tenant.post(
        path,
        json={
            "content": "<html><head><title>Pets</title></head><body><p>Dogs are welcome."
            "</p><script>var x = 'hidden';</script></body></html>",
            "content_type": "text/html",
        },
    )
    assert html.status_code == 201 and html.json()["title"] == "Pets"
    assert "hidden" not in html.json()["content"] and "Dogs are welcome." in html.json()["content"]
    assert (await top_hit(tenant, collection_id, "dogs"))["title"] == "Pets"
    assert (await top_hit(tenant, collection_id, "refund"))["document_id"] == markdown.json()["id"]

    again = await tenant.post(path, json={"content": "Parking is free behind the building."})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["id"] == plain.json()["id"]
    assert await count_documents(tenant, collection_id) == 3

    for bad in (
        {"content": ""},
        {"content": "   "},
        {},
        {"content": "x", "content_type": "application/pdf"},
        {"content": "x", "extra": 1},
        {"content": "nul \u0000"},
    ):
        assert (await tenant.post(path, json=bad)).status_code == 422, bad
    assert await count_documents(tenant, collection_id) == 3

    document_path = f"{path}/{plain.json()['id']}"
    fetched = await tenant.get(document_path)
    assert fetched.status_code == 200 and fetched.json()["content"].startswith("Parking")
    assert (await tenant.delete(document_path)).status_code == 204
    assert (await tenant.get(document_path)).status_code == 404
    response = await tenant.post(
        f"/core/knowledge-collections/{collection_id}/search", json={"query": "parking"}
    )
    assert response.json()["results"] == []


async def test_uploads_of_every_file_type(tenant: Tenant) -> None:
    collection_id = await new_collection(tenant)
    files = {
        "notes.txt": (b"The alarm code is changed every month.", "alarm"),
        "guide.md": (b"# Setup guide\n\nPlug the router into the blue socket.", "router"),
        "page.html": (b"<title>Menu</title><p>Our pizza oven runs on wood.</p>", "pizza"),
        "manual.pdf": (
            pdf_bytes(["Chapter one: the thermostat.", "Chapter two: descaling the boiler."]),
            "descaling",
        ),
        "policy.docx": (
            docx_bytes(["Travel policy", "Trains are booked in second class."]),
            "trains",
        ),
    }
    ids = {}
    for name, (data, _) in files.items():
        response = await upload(tenant, collection_id, name, data)
        assert response.status_code == 201, (name, response.text)  # type: ignore[attr-defined]
        body = response.json()  # type: ignore[attr-defined]
        assert body["filename"] == name and body["source"] == "upload"
        ids[name] = body["id"]
    for name, (_, word) in files.items():
        assert (await top_hit(tenant, collection_id, word))["document_id"] == ids[name], name
    pdf = (
        await tenant.get(
            f"/core/knowledge-collections/{collection_id}/documents/{ids['manual.pdf']}"
        )
    ).json()
    assert pdf["content_type"] == "application/pdf" and "thermostat" in pdf["content"]
    assert pdf["content"].index("thermostat") < pdf["content"].index("boiler")
    # The same file again is not stored twice.
    again = await upload(tenant, collection_id, "copy.pdf", files["manual.pdf"][0])
    assert again.status_code == 200 and again.json()["id"] == ids["manual.pdf"]  # type: ignore[attr-defined]
    titled = await tenant.post(
        f"/core/knowledge-collections/{collection_id}/documents",
        files={"file": ("x.txt", b"Titled text.", "text/plain")},
        data={"title": "My title"},
    )
    assert titled.json()["title"] == "My title"


def zip_bomb() -> bytes:
    """A .docx-looking zip whose one member inflates 2000x (100 MB of zeros from ~100 KB)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as member:
            block = b"\0" * (1024 * 1024)
            for _ in range(100):
                member.write(block)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "make", "status", "code"),
    [
        ("virus.exe", lambda: b"MZ\x90\x00", 415, "unsupported_document_type"),
        ("noextension", lambda: b"hello", 415, "unsupported_document_type"),
        ("empty.txt", lambda: b"", 422, "document_empty"),
        ("blank.md", lambda: b" \n\n ", 422, "document_empty"),
        ("claims.txt", lambda: pdf_bytes(["secret"]), 422, "document_type_mismatch"),
        ("binary.txt", lambda: b"\x00\x01\x02abc", 422, "document_type_mismatch"),
        ("latin1.txt", lambda: "café".encode("latin-1"), 422, "document_type_mismatch"),
        ("broken.pdf", lambda: b"%PDF-1.7\n1 0 obj << /Type /Catalog", 422, "document_broken"),
        ("fake.pdf", lambda: b"just text in a pdf name", 422, "document_type_mismatch"),
        (
            "locked.pdf",
            lambda: pdf_bytes(["classified"], password="s3cret"),
            422,
            "document_encrypted",
        ),
        ("scan.pdf", lambda: pdf_bytes([""]), 422, "document_empty"),
        ("bomb.docx", zip_bomb, 422, "document_too_large"),
        ("notzip.docx", lambda: b"PK\x03\x04garbage", 422, "document_broken"),
        ("text.docx", lambda: b"plain words", 422, "document_broken"),
    ],
)
async def test_broken_and_hostile_files_are_refused_and_nothing_is_stored(
    tenant: Tenant, name: str, make: object, status: int, code: str
) -> None:
    collection_id = await new_collection(tenant)
    response = await upload(tenant, collection_id, name, make())  # type: ignore[operator]
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.json()["code"] == code  # type: ignore[attr-defined]
    assert await count_documents(tenant, collection_id) == 0


async def test_a_100_mb_upload_is_refused_without_being_read(tenant: Tenant) -> None:
    collection_id = await new_collection(tenant)
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        boundary = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'
        yield boundary
        block = b"a" * (1024 * 1024)
        for _ in range(100):
            sent += len(block)
            yield block
        yield b"\r\n--b--\r\n"

    response = await tenant.post(
        f"/core/knowledge-collections/{collection_id}/documents",
        content=body(),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413
    assert sent < 10 * 1024 * 1024  # refused early: most of the body was never pulled
    declared = await tenant.post(
        f"/core/knowledge-collections/{collection_id}/documents",
        content=b"x" * 10,
        headers={
            "Content-Type": "multipart/form-data; boundary=b",
            "Content-Length": str(100 * 1024 * 1024),
        },
    )
    assert declared.status_code in (400, 413)
    assert await count_documents(tenant, collection_id) == 0


async def test_other_organizations_documents_are_404(tenant: Tenant, other_tenant: Tenant) -> None:
    collection_id = await new_collection(tenant)
    created = await tenant.post(
        f"/core/knowledge-collections/{collection_id}/documents", json={"content": "Mine."}
    )
    document = f"/core/knowledge-collections/{collection_id}/documents/{created.json()['id']}"
    assert (await other_tenant.get(document)).status_code == 404
    assert (await other_tenant.delete(document)).status_code == 404
    assert (
        await other_tenant.post(
            f"/core/knowledge-collections/{collection_id}/documents", json={"content": "Theirs."}
        )
    ).status_code == 404
    assert (
        await other_tenant.get(f"/core/knowledge-collections/{collection_id}/documents")
    ).status_code == 404
    assert await count_documents(tenant, collection_id) == 1
