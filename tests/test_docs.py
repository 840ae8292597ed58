"""Every ```python block in the README and in docs/ runs, in order, the blocks
of one page sharing their names as a reader pasting them would."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import losskit

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_blocks_run(page):
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, f"{page.name} has no python example"
    before = set(losskit.available())
    namespace = {"__name__": f"docs.{page.stem}"}
    try:
        for i, block in enumerate(blocks):
            exec(compile(block, f"{page.name} block {i + 1}", "exec"), namespace)  # noqa: S102 - the page's own code
    finally:
        for name in set(losskit.available(aliases=False)) - before:  # losses a page registered
            losskit.unregister(name)


def test_every_page_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in readme, f"README does not link docs/{page.name}"
