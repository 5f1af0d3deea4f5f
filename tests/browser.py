"""Headless Chromium for tests that must see a page as a browser does (skip when absent)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROBE = (
    "<script>window.addEventListener('load', () => {"
    " const images = Array.from(document.images);"
    " const ok = images.length > 0 && images.every(i => i.complete && i.naturalWidth > 0);"
    " document.title = (ok ? 'IMAGES-OK ' : 'IMAGES-BROKEN ') + images.length; });</script>"
)
"""A script that, once the page has loaded, writes into the title whether every image decoded."""


def chromium() -> str:
    """The Chromium binary, or skip the test (CI installs it: apt-get install chromium)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("no chromium binary on PATH (CI installs it: apt-get install chromium)")
    return binary


def run_chromium(profile: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Run headless Chromium with a fresh profile and no network chatter."""
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
    ]  # fmt: skip
    return subprocess.run([chromium(), *flags, *arguments], check=False, capture_output=True, text=True, timeout=120)


def images_in_browser(page: Path, profile: Path) -> str:
    """Load ``page`` (with :data:`PROBE` added) and return the probe's verdict, e.g. ``"IMAGES-OK 4"``."""
    probed = page.with_name(page.stem + ".probe.html")
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = run_chromium(profile, "--dump-dom", probed.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    start = dom.stdout.find("<title>") + len("<title>")
    return dom.stdout[start : dom.stdout.find("</title>", start)]
