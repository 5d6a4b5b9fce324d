"""Screenshots of the pages a browser test walks through, at 1280 and 800 px, kept as run artifacts.

They land in ``$PORTAL_TEST_ARTIFACTS`` when set (CI uploads that directory), else in pytest's base
temporary directory under ``artifacts/``; the path is printed so a person can look at them.
"""

import os
import re
from pathlib import Path

import pytest

WIDTHS = (1280, 800)


@pytest.fixture
def screenshots(request, tmp_path_factory):
    """``screenshots(page, "name")``: the page at each width, full height, as PNG files."""
    root = os.environ.get("PORTAL_TEST_ARTIFACTS")
    base = Path(root) if root else tmp_path_factory.getbasetemp() / "artifacts"
    folder = base / re.sub(r"[^\w.-]+", "_", request.node.name)
    taken: list[Path] = []

    def take(page, name: str) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        size = page.viewport_size or {"width": 1280, "height": 800}
        paths = []
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": size["height"]})
            path = folder / f"{name}-{width}.png"
            page.screenshot(path=str(path), full_page=True)
            paths.append(path)
        page.set_viewport_size(size)
        taken.extend(paths)
        return paths

    yield take
    if taken:
        print(f"\nscreenshots: {folder}")
