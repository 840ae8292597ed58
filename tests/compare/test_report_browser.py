"""The compare report opened in real headless Chromium (Debian's chromium, driven by Playwright):
it renders without console or page errors and every figure is drawn at a non-zero size.
"""

import shutil
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None

from test_compare_report import make_run

from losskit.compare.report import write_report

CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.skipif(sync_playwright is None, reason="no playwright: pip install playwright (in the dev extra)"),
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: install Debian's chromium package (the README test "
                                                "command does); the report's browser test needs a real browser"),
]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.mark.parametrize("task", ["regression", "binary"])
def test_report_renders(browser, tmp_path, task):
    report = write_report(make_run(tmp_path / task, task, tune=task == "regression"))
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda err: errors.append(str(err)))
    requests = []
    page.on("request", lambda req: requests.append(req.url))
    page.goto(report.as_uri(), wait_until="load")

    figures = page.locator("figure")
    ids = [figures.nth(i).get_attribute("id") for i in range(figures.count())]
    expected = {"fig-metrics", "fig-learning", "fig-losses"}
    expected |= {"fig-residuals", "fig-residual-hist", "fig-tune-curves", "fig-tune-history"} if task == "regression" \
        else {"fig-reliability"}
    assert expected <= set(ids)
    for fid in ids:
        figure = page.locator(f"figure#{fid}")
        figure.scroll_into_view_if_needed()
        assert figure.is_visible(), fid
        graphic = figure.locator("svg, img").first
        box = graphic.bounding_box()
        assert box is not None and box["width"] > 50 and box["height"] > 50, (fid, box)
    # every HTML <img> decoded; the bitmaps inside the SVGs (rasterised scatter points) decode too
    broken = page.evaluate("""() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).length""")
    assert broken == 0
    widths = page.evaluate("""async () => Promise.all([...document.querySelectorAll('svg image')].map(async el => {
        const img = new Image();
        img.src = el.getAttribute('xlink:href') || el.getAttribute('href');
        await img.decode();
        return Math.min(img.naturalWidth, el.getBBox().width);
    }))""")
    assert (len(widths) > 0) == (task == "regression")  # the residual scatter is rasterised
    assert all(w > 0 for w in widths), widths
    assert page.evaluate("document.querySelectorAll('script').length") == 0
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert errors == []
    page.close()
