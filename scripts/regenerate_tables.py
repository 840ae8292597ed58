"""Rewrite the two tables generated from the registry: the README's table of
losses (``losskit list --markdown``) and docs/parameters.md's table of
parameter names (``losskit list --parameters``). Run after adding or changing
a loss; tests/test_package.py fails until the tables match the registry."""

from pathlib import Path

import losskit
from losskit.cli import markdown_table, parameter_table

ROOT = Path(__file__).resolve().parents[1]


def replace_table(text: str, header: str, table: str) -> str:
    """``text`` with the markdown table that starts with ``header`` replaced."""
    start = text.index(header)
    end = text.find("\n\n", start)
    return text[:start] + table + text[len(text) if end < 0 else end:]


readme = ROOT / "README.md"
readme.write_text(replace_table(readme.read_text(), "| loss (aliases) |", markdown_table(losskit.specs())))

page = ROOT / "docs" / "parameters.md"
text = page.read_text()
begin, finish = "<!-- generated: losskit list --parameters -->\n", "\n<!-- end generated -->"
head, rest = text.split(begin)
page.write_text(head + begin + parameter_table(losskit.specs()) + finish + rest.split(finish, 1)[1])
