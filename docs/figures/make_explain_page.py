"""Make docs/figures/explain_page.png, the screenshot in docs/cli.md: `python docs/figures/make_explain_page.py`.

Runs `revelio explain` (every method, the bundled model, `--fit crop`) on a wide
400x200 picture of two shapes and on a held-out shapes image, then opens the page it
wrote in headless Chromium (`apt-get install chromium`) and saves a screenshot of it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from revelio.zoo import make_batch
from revelio.zoo.train import TEST_SEED

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).with_name("explain_page.png")
WINDOW = "1100,1900"

sys.path.insert(0, str(ROOT / "tests"))
from browser import run_chromium  # the tests' headless Chromium, with the same flags


def _images(folder: Path) -> list[str]:
    wide = np.full((200, 400, 3), 40, np.uint8)
    cv2.circle(wide, (200, 100), 45, (60, 60, 230), 14)  # a ring in the middle, a square at the right edge
    cv2.rectangle(wide, (320, 60), (390, 130), (40, 200, 40), -1)
    paths = [str(folder / "wide.png")]
    cv2.imwrite(paths[0], wide)
    pixels = (make_batch(1, seed=TEST_SEED, start=500).images[0].permute(1, 2, 0).numpy() * 255).round()
    paths.append(str(folder / "shapes.png"))
    cv2.imwrite(paths[1], cv2.cvtColor(pixels.astype(np.uint8), cv2.COLOR_RGB2BGR))
    return paths


def main() -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        command = [sys.executable, "-m", "revelio", "explain", *_images(folder), "--method", "all", "--fit", "crop",
                   "--out", str(folder / "out"), "--no-progress"]  # fmt: skip
        subprocess.run(command, check=True)
        shot = run_chromium(folder / "profile", f"--screenshot={folder / 'page.png'}", f"--window-size={WINDOW}",
                            "--hide-scrollbars", (folder / "out" / "index.html").as_uri())  # fmt: skip
        if shot.returncode != 0:
            raise SystemExit(shot.stderr[-2000:])
        OUT.write_bytes((folder / "page.png").read_bytes())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
