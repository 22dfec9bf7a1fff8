#!/usr/bin/python3
"""Independent ground truth for the attachment-text share (issue 3): which
corpus documents carry any text at all, decided without our extractor or
its libraries: PyPDF2 for PDFs (not Poppler), zipfile + the XML text nodes
of the content parts for OOXML, the bytes for HTML and text.

usage: doc_text_truth.py ATTACHMENTS_DIR REL_PATH...
Prints one line per path: "text" or "empty", then the path. A document
this script cannot read counts as "text" (so it can only make our share
look worse, never better)."""

import io
import re
import sys
import zipfile

TEXT_NODE = re.compile(rb"<(?:[a-z]+:)?t(?:\s[^>]*)?>([^<]+)</(?:[a-z]+:)?t>")
CONTENT_PARTS = re.compile(
    r"^(word/(document|footnotes|endnotes|header\d*|footer\d*)\.xml"
    r"|word/charts/chart\d+\.xml|word/afchunk.*|word/.*\.html?"
    r"|ppt/slides/slide\d+\.xml|ppt/notesSlides/notesSlide\d+\.xml"
    r"|ppt/charts/chart\d+\.xml|xl/sharedStrings\.xml"
    r"|xl/worksheets/sheet\d+\.xml|xl/charts/chart\d+\.xml)$")


def pdf_has_text(data):
    import PyPDF2
    reader = PyPDF2.PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        reader.decrypt("")
    for i, page in enumerate(reader.pages):
        if i >= 50:
            break
        if (page.extract_text() or "").strip():
            return True
    return False


def ooxml_has_text(data):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if not CONTENT_PARTS.match(name):
                continue
            body = z.read(name)
            if name.endswith((".html", ".htm")) or "afchunk" in name:
                if re.sub(rb"<[^>]*>|\s|&nbsp;", b"", body):
                    return True
                continue
            for m in TEXT_NODE.finditer(body):
                if m.group(1).strip():
                    return True
    return False


def has_text(path):
    data = open(path, "rb").read()
    low = path.lower()
    try:
        if data.startswith(b"%PDF") or low.endswith(".pdf"):
            return pdf_has_text(data)
        if data.startswith(b"PK"):
            return ooxml_has_text(data)
        if low.endswith((".html", ".htm")):
            return bool(re.sub(rb"<[^>]*>|\s|&nbsp;", b"", data))
        return bool(data.strip())
    except Exception:  # unreadable: count it as text, against us
        return True


def main(argv):
    root = argv[1]
    for rel in argv[2:]:
        print("%s %s" % ("text" if has_text(root + "/" + rel) else "empty",
                         rel))


if __name__ == "__main__":
    main(sys.argv)
