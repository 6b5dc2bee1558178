"""The docs' code blocks, for the tests that run them: examples that run in the suite cannot rot.

Conventions (stated in the docs themselves):
- In `docs/sdk.md` and `README.md`, every block fenced exactly ```` ```python ```` runs, in page
  order, as one program (one namespace: a block uses what the blocks before it made). A fragment
  that is not meant to run is fenced ```` ```python no-run ```` (it still renders as Python).
- `README.md` quotes `docs/quickstart.sh` whole, split into ```` ```sh ```` blocks that each follow
  a `<!-- docs/quickstart.sh -->` line; those blocks, joined by blank lines, are the script, byte
  for byte. After editing the script, `.venv/bin/python -m tests.docs.examples` rewrites those
  blocks: the script's sections (each starts with a `## ` comment after a blank line) in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "docs" / "quickstart.sh"
QUICKSTART_MARKER = "<!-- docs/quickstart.sh -->"
_FENCE = re.compile(r"^```(?P<info>[^`\n]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    info: str  # the fence's info string: "python", "python no-run", "sh", ...
    line: int  # the file's line number of the block's first code line
    source: str
    preceded_by: str  # the last non-blank line before the opening fence


def code_blocks(path: Path) -> list[Block]:
    text = path.read_text()
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        line = text.count("\n", 0, match.start("body")) + 1
        blocks.append(Block(match["info"].strip(), line, match["body"], before.strip()))
    return blocks


def quoted_quickstart(readme: Path) -> str:
    """The README's quoted pieces of the quickstart script, joined by blank lines."""
    return "\n".join(b.source for b in code_blocks(readme) if b.preceded_by == QUICKSTART_MARKER)


def sync_readme(readme: Path) -> None:
    """Rewrites the README's quoted blocks with the script's sections (as many as there are)."""
    sections = [s + "\n" for s in QUICKSTART.read_text().rstrip("\n").split("\n\n## ")]
    sections[1:] = [f"## {section}" for section in sections[1:]]
    opening = f"{QUICKSTART_MARKER}\n```sh\n"
    before, *quoted = readme.read_text().split(opening)
    if len(quoted) != len(sections):
        raise SystemExit(f"README quotes {len(quoted)} blocks; the script has {len(sections)}")
    rest = [block[block.index("```\n") :] for block in quoted]
    readme.write_text(
        before + "".join(opening + s + r for s, r in zip(sections, rest, strict=True))
    )


def run_python_examples(path: Path) -> dict[str, Any]:
    """Runs the page's ```` ```python ```` blocks in order in one namespace, which it returns.

    Each block is compiled at its own line numbers in the page, so a failure's traceback points
    at the line of the doc that broke."""
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    for block in code_blocks(path):
        if block.info == "python":
            padded = "\n" * (block.line - 1) + block.source
            exec(compile(padded, str(path), "exec"), namespace)  # our own docs
    return namespace


if __name__ == "__main__":
    sync_readme(REPO / "README.md")
