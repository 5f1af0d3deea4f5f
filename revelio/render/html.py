"""An HTML report: headings, text, images, galleries and tables in one file.

Images given as tensors are embedded (the page is one self-contained file); a
:class:`Picture` may instead name an image file beside the page, which the page
links (``revelio explain`` links the pictures it writes).
"""

from __future__ import annotations

import base64
import html
import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from revelio.errors import InputError
from revelio.io import write_atomic
from revelio.render.files import png_bytes
from revelio.render.plots import chart_image

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b;
       background: #fff; line-height: 1.5; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.8rem; margin-bottom: 0.5rem; }
h2 { font-size: 1.35rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
h3, h4, h5, h6 { font-size: 1.1rem; }
figure { margin: 1rem 0; }
img { image-rendering: pixelated; max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption { color: #555; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #d0d0d0; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
footer { margin-top: 3rem; color: #777; font-size: 0.8rem; }
.gallery { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.gallery figure { margin: 0; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.35em; border-radius: 2px;
          vertical-align: baseline; }
""".strip()


@dataclass(frozen=True)
class Picture:
    """One image of a gallery (:meth:`HtmlReport.add_gallery`).

    Attributes:
        source: the image as a tensor or a matplotlib figure (embedded as PNG), or the
            relative path of an image file beside the page (linked, not embedded).
        caption: text under it.
        color: a ``"#rrggbb"`` swatch before the caption (a method's colour,
            :func:`~revelio.render.method_color`).
        size: ``(width, height)`` in pixels of a linked file (for the layout while it
            loads); a tensor's own size is used for embedded images.
        scale: display size relative to the image's pixels.
    """

    source: Tensor | Any | str
    caption: str = ""
    color: str | None = None
    size: tuple[int, int] | None = None
    scale: float = 1.0


def _swatch(color: str | None) -> str:
    if not color:
        return ""
    return f'<span class="swatch" style="background:{html.escape(color, quote=True)}"></span>'



def _cell(value: object) -> tuple[str, bool]:
    """Text of a table cell and whether it is a number."""
    if value is None:
        return "", False
    if isinstance(value, bool):
        return str(value), False
    if isinstance(value, numbers.Integral):
        return str(value), True
    if isinstance(value, numbers.Real):
        return f"{float(value):.4g}", True
    return str(value), False


class HtmlReport:
    """Build one HTML page: images given as tensors are embedded as base64 PNG data URIs.

    Nothing is fetched from elsewhere when the page opens (no scripts, fonts or
    stylesheets), so a page of embedded images can be mailed, archived or attached to
    CI results; a :class:`Picture` that names a file links it, and the file must stay
    beside the page. Text is escaped; only :meth:`add_html` inserts markup as given.

    Args:
        title: the page title, shown as its first heading.

    Example:
        >>> report = HtmlReport("Grad-CAM on the shapes model")
        >>> report.add_text("Each row is one example.")
        >>> report.add_image(grid(tiles, titles=names, scale=3), caption="Grad-CAM, layer conv3")
        >>> report.write("reports/gradcam.html")
    """

    def __init__(self, title: str) -> None:
        self.title = str(title)
        self._blocks: list[str] = []

    def add_heading(self, text: str, level: int = 2) -> None:
        """Add a heading ``<h{level}>``; ``level`` is 1 to 6 (the title is level 1)."""
        if level not in (1, 2, 3, 4, 5, 6):
            raise InputError(f"heading level must be 1 to 6, got {level!r}")
        self._blocks.append(f"<h{level}>{html.escape(str(text))}</h{level}>")

    def add_text(self, text: str) -> None:
        """Add a paragraph of plain text (escaped; line breaks kept)."""
        body = "<br>\n".join(html.escape(line) for line in str(text).splitlines())
        self._blocks.append(f"<p>{body}</p>")

    def add_image(self, image: Tensor | Any, caption: str = "", alt: str = "", *, scale: float = 1.0) -> None:
        """Add an image (encoded as PNG now), with an optional caption.

        Args:
            image: ``(3, H, W)``, ``(1, H, W)`` or ``(H, W)`` in [0, 1] (see
                :func:`~revelio.render.png_bytes`), or a matplotlib figure (a chart).
            caption: text under the image.
            alt: text for screen readers and broken images; default the caption.
            scale: display size relative to the image's pixels (upscaled pixels stay
                sharp); the page never shows it wider than the text column.
        """
        self._blocks.append(self._figure(Picture(image, caption, scale=scale), alt))

    def add_gallery(self, pictures: Sequence[Picture]) -> None:
        """Add pictures side by side, wrapping onto more rows as the page narrows."""
        figures = "\n".join(self._figure(picture) for picture in pictures)
        self._blocks.append(f'<div class="gallery">\n{figures}\n</div>')

    def _figure(self, picture: Picture, alt: str = "") -> str:
        if not picture.scale > 0:
            raise InputError(f"scale must be positive, got {picture.scale!r}")
        image = chart_image(picture.source) if hasattr(picture.source, "savefig") else picture.source
        if isinstance(image, Tensor):
            source = "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")
            height, width = (int(size) for size in image.shape[-2:])
        elif isinstance(picture.source, str) and picture.size is not None:
            source = html.escape(picture.source, quote=True)
            width, height = (int(size) for size in picture.size)
        else:
            raise InputError(
                "a picture is an image tensor, a matplotlib figure, or the relative path of an image file with its "
                f"size (width, height); got {type(picture.source).__name__}"
            )
        alt_text = html.escape(alt or picture.caption or f"image {len(self._blocks) + 1}", quote=True)
        figure = (
            f'<figure><img src="{source}" alt="{alt_text}" '
            f'width="{round(width * picture.scale)}" height="{round(height * picture.scale)}">'
        )
        if picture.caption:
            figure += f"<figcaption>{_swatch(picture.color)}{html.escape(picture.caption)}</figcaption>"
        return figure + "</figure>"

    def add_table(
        self, headers: Sequence[str], rows: Sequence[Sequence[object]], *, colors: Sequence[str | None] | None = None
    ) -> None:
        """Add a table; integers as written, other numbers with 4 significant digits (right-aligned).

        ``colors``: one ``"#rrggbb"`` (or ``None``) per row, drawn as a swatch in its first cell.
        """
        if colors is not None and len(colors) != len(rows):
            raise InputError(f"got {len(colors)} colours for {len(rows)} rows; give one per row (None for none)")
        if len(headers) == 0:
            raise InputError("a table needs at least one header")
        lines = [
            "<table>",
            "<thead><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in headers) + "</tr></thead>",
        ]
        lines.append("<tbody>")
        for number, row in enumerate(rows):
            if len(row) != len(headers):
                raise InputError(
                    f"table row {number} has {len(row)} cells for {len(headers)} headers; give one cell per header"
                )
            cells = []
            for column, value in enumerate(row):
                text, numeric = _cell(value)
                swatch = _swatch(colors[number]) if colors is not None and column == 0 else ""
                cells.append(
                    f'<td class="num">{swatch}{html.escape(text)}</td>' if numeric
                    else f"<td>{swatch}{html.escape(text)}</td>"
                )
            lines.append("<tr>" + "".join(cells) + "</tr>")
        lines.append("</tbody>")
        lines.append("</table>")
        self._blocks.append("\n".join(lines))

    def add_html(self, raw: str) -> None:
        """Add trusted markup as it is (it is not escaped: never pass untrusted text)."""
        self._blocks.append(str(raw))

    def to_html(self) -> str:
        """The whole page as one string."""
        from revelio import __version__

        title = html.escape(self.title)
        body = "\n".join(self._blocks)
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta name="generator" content="revelio {html.escape(__version__)}">\n'
            f"<title>{title}</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n<main>\n"
            f"<h1>{title}</h1>\n{body}\n</main>\n"
            f"<footer>Made with revelio {html.escape(__version__)}.</footer>\n</body>\n</html>\n"
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` (UTF-8), atomically; parent folders are created.

        Returns:
            ``path`` as a :class:`~pathlib.Path`.

        Raises:
            OSError: the folder cannot be created or written (its message names the path).
        """
        return write_atomic(path, self.to_html().encode("utf-8"), "HTML report")

    def __repr__(self) -> str:
        return f"HtmlReport({self.title!r}, {len(self._blocks)} blocks)"
