"""Render an HTML file in headless Chromium: DOM after load (with a figure check) and a screenshot.

No selenium: chromium is driven through its command line (``--dump-dom``, ``--screenshot``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

INSTALL_HINT = (
    "headless Chromium is needed to check the HTML reports: run `make browser` "
    "(as root: apt-get install -y chromium chromium-driver), or set LSEC_SKIP_BROWSER=1 to skip these tests"
)

# Appended to a copy of the report: after every image has loaded, write what the browser sees into the DOM.
CHECK_SCRIPT = """
<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var out = images.map(function (img) {
    var canvas = document.createElement("canvas");
    var w = Math.min(img.naturalWidth, 400), h = Math.min(img.naturalHeight, 400);
    var distinct = 0;
    if (w > 0 && h > 0) {
      canvas.width = w; canvas.height = h;
      var ctx = canvas.getContext("2d");
      ctx.drawImage(img, 0, 0, w, h);
      var data = ctx.getImageData(0, 0, w, h).data, seen = {};
      for (var i = 0; i < data.length; i += 16) { seen[data[i] + "," + data[i + 1] + "," + data[i + 2]] = 1; }
      distinct = Object.keys(seen).length;
    }
    return {alt: img.alt, width: img.naturalWidth, height: img.naturalHeight, complete: img.complete, colours: distinct};
  });
  var pre = document.createElement("pre");
  pre.id = "lsec-render-check";
  pre.textContent = JSON.stringify({images: out, title: document.title, sections: document.querySelectorAll("section").length});
  document.body.appendChild(pre);
});
</script>
"""


def chromium_or_fail() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("LSEC_SKIP_BROWSER") == "1":
        pytest.skip("LSEC_SKIP_BROWSER=1: browser check skipped")
    pytest.fail(INSTALL_HINT, pytrace=False)


def _run(args: list[str], profile: str) -> subprocess.CompletedProcess[str]:
    base = [
        chromium_or_fail(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
    ]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=120, check=False)


def render(html: Path, window: tuple[int, int] = (1200, 3000)) -> tuple[dict, np.ndarray]:
    """(what the page reports about its images after load, screenshot as an (H, W, 3) uint8 array)."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(
            html.read_text(encoding="utf-8").replace("</body>", CHECK_SCRIPT + "</body>"), encoding="utf-8"
        )
        dom = _run(["--dump-dom", probe.as_uri()], str(Path(tmp) / "profile-dom"))
        match = re.search(r'<pre id="lsec-render-check">(.*?)</pre>', dom.stdout, re.S)
        assert match, f"the page did not finish loading in Chromium; stderr: {dom.stderr[-2000:]}"
        check = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))

        shot = Path(tmp) / "shot.png"
        _run([f"--screenshot={shot}", f"--window-size={window[0]},{window[1]}", html.as_uri()], str(Path(tmp) / "p2"))
        assert shot.is_file(), "Chromium wrote no screenshot"
        pixels = np.asarray(Image.open(shot).convert("RGB"))
        keep = os.environ.get("LSEC_KEEP_SCREENSHOTS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(keep) / f"{html.stem}.png")
    return check, pixels


def assert_rendered(check: dict, pixels: np.ndarray, expected_images: int) -> None:
    images = check["images"]
    assert len(images) == expected_images, images
    for image in images:
        assert image["complete"] and image["width"] > 100 and image["height"] > 100, image
        assert image["colours"] > 8, f"figure {image['alt']!r} looks blank: {image}"
    assert pixels.shape[0] > 500 and pixels.shape[1] > 500
    flat = pixels.reshape(-1, 3)
    assert (flat != flat[0]).any(axis=1).mean() > 0.05, "the screenshot is a single colour"
    assert len(np.unique(flat[::97], axis=0)) > 50, "the screenshot has almost no content"
