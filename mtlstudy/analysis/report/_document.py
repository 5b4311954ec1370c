"""A report as a list of blocks, rendered to self-contained HTML or to Markdown.

Every piece of text is escaped at rendering time, so values from a study
(names, ids, parameters) can never inject markup into either output.
"""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Heading", "Paragraph", "Bullets", "Table", "Image", "Link", "render_html", "render_markdown", "format_cell"]


@dataclass(frozen=True)
class Heading:
    """A section title; ``level`` 2 for sections, 3 for subsections."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """Plain text."""

    text: str


@dataclass(frozen=True)
class Bullets:
    """A bulleted list of plain-text items."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A DataFrame shown as a table (cells through :func:`format_cell`), index dropped."""

    frame: pd.DataFrame
    caption: str = ""


@dataclass(frozen=True)
class Image:
    """A PNG, ``path`` relative to the report folder."""

    path: str
    caption: str


@dataclass(frozen=True)
class Link:
    """A line linking to ``path``, a file of the report folder."""

    text: str
    path: str


Block = Heading | Paragraph | Bullets | Table | Image | Link


def format_cell(item: object) -> str:
    """Plain text of a table cell: 4 significant digits, '–' for missing values."""
    if item is None or (isinstance(item, float) and math.isnan(item)) or item is pd.NA:
        return "–"
    if isinstance(item, (bool, np.bool_)):
        return "yes" if item else "no"
    if isinstance(item, float):
        return f"{item:.4g}"
    return str(item)


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1150px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #0072B2; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .8em 0 1.4em; font-size: .86em; }
th, td { border: 1px solid #ccc; padding: .25em .55em; text-align: left; }
td.number { text-align: right; }
th { background: #f0f4f8; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: .3em 0; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #444; }
"""


_NUMBER = ' class="number"'


def _is_number(item: object) -> bool:
    """Numbers are right-aligned, so that their digits line up; text is left-aligned."""
    return isinstance(item, (int, float, np.integer, np.floating)) and not isinstance(item, (bool, np.bool_))


def _html_table(table: Table) -> str:
    escape = html.escape
    head = "".join(f"<th>{escape(str(column))}</th>" for column in table.frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td{_NUMBER if _is_number(item) else ''}>{escape(format_cell(item))}</td>" for item in row)
        + "</tr>"
        for row in table.frame.itertuples(index=False)
    )
    caption = f"<caption>{escape(table.caption)}</caption>" if table.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(title: str, blocks: list[Block], root: Path) -> str:
    """One HTML page with the PNGs under ``root`` embedded as base64 (works offline).

    Parameters
    ----------
    title : str
        Page title (escaped).
    blocks : list of Block
    root : pathlib.Path
        The folder that :class:`Image` paths are relative to.
    """
    escape = html.escape
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{escape(block.text)}</p>")
        elif isinstance(block, Bullets):
            parts.append("<ul>" + "".join(f"<li>{escape(item)}</li>" for item in block.items) + "</ul>")
        elif isinstance(block, Table):
            parts.append(_html_table(block))
        elif isinstance(block, Link):
            parts.append(f'<p><a href="{escape(block.path)}">{escape(block.text)}</a></p>')
        else:
            data = base64.b64encode((root / block.path).read_bytes()).decode("ascii")
            parts.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{escape(block.caption)}">'
                f"<figcaption>{escape(block.caption)}</figcaption></figure>"
            )
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n<h1>{escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|#<>])")


def _md(text: str) -> str:
    """Escape text for Markdown; raw HTML too, since renderers pass it through."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False)).replace("\n", " ")


def render_markdown(title: str, blocks: list[Block]) -> str:
    """The same report as Markdown, images referenced by their relative path."""
    lines = [f"# {_md(title)}", ""]
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + _md(block.text), ""]
        elif isinstance(block, Paragraph):
            lines += [_md(block.text), ""]
        elif isinstance(block, Bullets):
            lines += [f"- {_md(item)}" for item in block.items] + [""]
        elif isinstance(block, Table):
            if block.caption:
                lines += [f"**{_md(block.caption)}**", ""]
            columns = [_md(str(column)) for column in block.frame.columns]
            lines.append("| " + " | ".join(columns) + " |")
            lines.append("|" + "|".join("---" for _ in columns) + "|")
            for row in block.frame.itertuples(index=False):
                lines.append("| " + " | ".join(_md(format_cell(item)) for item in row) + " |")
            lines.append("")
        elif isinstance(block, Link):
            lines += [f"[{_md(block.text)}]({block.path})", ""]
        else:
            lines += [f"![{_md(block.caption)}]({block.path})", "", f"*{_md(block.caption)}*", ""]
    return "\n".join(lines)
