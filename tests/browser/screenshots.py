"""Screenshots of the pages browser tests visit, at the widths an IT admin uses (1280 and 800 px),
kept as artifacts of the run: in ``$PORTAL_TEST_ARTIFACTS/screenshots`` when set (CI can keep that
directory), else in test-results/screenshots/ (ignored by git)."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDER = Path(os.environ.get("PORTAL_TEST_ARTIFACTS") or ROOT / "test-results") / "screenshots"
WIDTHS = (1280, 800)


def save_screenshots(page, name: str, *, full_page: bool = False, fits: bool = False) -> list[Path]:
    """Screenshots of what ``page`` shows at each width (the first screen, 900 px high, or the whole
    page), then the page back at the first width. ``fits``: assert that the page needs no
    horizontal scrolling at any width."""
    FOLDER.mkdir(parents=True, exist_ok=True)
    saved = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        path = FOLDER / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=full_page)
        saved.append(path)
        if fits:
            assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls at {width} px"
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    return saved
