"""docs/theory.md is the one theory the project cites: every cited anchor exists there, and the
two working files it replaced are cited nowhere."""
from __future__ import annotations

import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC_PATH = ROOT / "docs" / "theory.md"
ANCHOR = re.compile(r'^<a id="([\w-]+)"></a>\s*$', re.M)
# the path docs/theory.md with "#a" right after it, and the anchors chained after that: "#a, #b",
# "#a to #b", "#a and #b", also across a line break inside a comment ("#a,\n# #b")
CITE = re.compile(r"theory\.md(#[\w-]+(?:(?:\s*,\s*|\s+to\s+|\s+and\s+)(?:#:?\s+)?#[\w-]+)*)")
# the names of the two retired working files, spelled so that this file does not cite them
RETIRED = re.compile("|".join([r"\bTHE" + r"ORY\b", r"\bDES" + r"IGN\.md"]))


def anchors() -> set:
    """The explicit anchors of docs/theory.md (one ``<a id="..."></a>`` line before a heading)."""
    return set(ANCHOR.findall(DOC_PATH.read_text(encoding="utf-8")))


def cited(text: str) -> list:
    """Every anchor a text cites after the path of docs/theory.md (chains included)."""
    return [a for m in CITE.finditer(text) for a in re.findall(r"#([\w-]+)", m.group(1))]


def readable(path: pathlib.Path) -> str:
    """A file's text; for a notebook, its cells' sources."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        cells = json.loads(text).get("cells", [])
        text = "\n".join("".join(c.get("source", "")) for c in cells)
    return text


def files(*tops: str) -> list:
    out = []
    for top in tops:
        p = ROOT / top
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix in (".py", ".ipynb", ".md")
                          and ".ipynb_checkpoints" not in q.parts and q.is_file())
    return out


def unknown_citations(paths, known: set) -> list:
    """``"path: #anchor"`` for every cited anchor that is not in ``known``."""
    return [f"{p.relative_to(ROOT)}: #{a}" for p in paths for a in cited(readable(p))
            if a not in known]


def test_theory_anchors_are_unique_and_linked_from_contents():
    text = DOC_PATH.read_text(encoding="utf-8")
    ids = ANCHOR.findall(text)
    assert len(ids) == len(set(ids)), "duplicate anchors in docs/theory.md"
    for a in ids:
        assert f"](#{a})" in text, f"anchor {a!r} missing from the table of contents"


def test_theory_internal_links_resolve():
    text = DOC_PATH.read_text(encoding="utf-8")
    links = set(re.findall(r"\]\(#([\w-]+)\)", text))
    assert links, "no internal links found"
    assert sorted(links - anchors()) == []


def test_cited_anchors_exist():
    paths = files("ssd_edu", "tests", "tutorials", "README.md")
    assert unknown_citations(paths, anchors()) == []


def test_a_bad_anchor_is_caught(tmp_path):
    bad = tmp_path / "planted.py"
    known = anchors()
    assert "theorem-4-1" in known
    bad.write_text('"""See docs/theory.md#' + 'theorem-4-1 and #' + 'theorem-9-9."""\n')
    found = [a for a in cited(bad.read_text()) if a not in known]
    assert found == ["theorem-9-9"]
    comment = "# (docs/theory.md#" + "prop-4-2,\n# #" + "no-such-section)\n"
    assert cited(comment) == ["prop-4-2", "no-such-section"]


@pytest.mark.parametrize("top", ["ssd_edu", "tutorials", "README.md"])
def test_retired_files_are_not_cited(top):
    hits = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
            for p in files(top) for i, line in enumerate(readable(p).splitlines(), 1)
            if RETIRED.search(line)]
    assert hits == []
