"""Replace one named section of a Markdown file, so several benchmarks share docs/results.md.

A section lives between ``<!-- begin:NAME -->`` and ``<!-- end:NAME -->``; it is appended
when missing. Everything else in the file is left as it is.
"""

from __future__ import annotations

from pathlib import Path

RESULTS_DOC = Path(__file__).resolve().parents[1] / "docs" / "results.md"
HEADER = "# Results\n\nMeasured by the scripts in `benchmarks/`; each section names its script.\n"


def update_section(
    name: str, markdown: str, path: Path = RESULTS_DOC, header: str = HEADER
) -> None:
    """Replace section ``name`` of ``path``; a missing file starts as ``header``."""
    begin, end = f"<!-- begin:{name} -->", f"<!-- end:{name} -->"
    text = path.read_text(encoding="utf-8") if path.is_file() else header
    block = f"{begin}\n{markdown.strip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
