"""Reading a PDF the way a person would: each page's text (pypdfium2 extracts this font's Chinese cleanly)."""

from __future__ import annotations


def pdf_text(data: bytes) -> list[str]:
    """The text of every page."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(data)
    try:
        return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()
