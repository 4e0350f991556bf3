"""The report as one self-contained HTML page (images inlined as data URIs, no script, no
network) and a Markdown summary with the same tables."""

from __future__ import annotations

import base64
import html
import time
from typing import Any

from uer_ray.report.collect import Collected

CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
.wide{overflow-x:auto}table{border-collapse:collapse;margin:1em 0;font-size:14px}td{white-space:nowrap}th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}
th{background:#eee}td.l,th.l{text-align:left}img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
.note{background:#fff6d5;border-left:4px solid #e0b000;padding:.4em .8em}.yes{font-weight:bold}"""


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    return "" if v is None else str(v)


def table_rows(header: list[str], rows: list[list[Any]]) -> tuple[str, str]:
    """(HTML, Markdown) of one table; the first column is left-aligned."""
    h = "<div class=wide><table><tr>" + "".join(f"<th{' class=l' if i == 0 else ''}>{html.escape(c)}</th>"
                                for i, c in enumerate(header)) + "</tr>"
    for r in rows:
        h += "<tr>" + "".join(f"<td{' class=l' if i == 0 or isinstance(c, str) else ''}>"
                              f"{html.escape(_cell(c))}</td>" for i, c in enumerate(r)) + "</tr>"
    h += "</table></div>"
    md = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
    md += "".join("| " + " | ".join(_cell(c) for c in r) + " |\n" for r in rows)
    return h, md


def render(c: Collected, sections: list[tuple[str, str, str]], figures: dict[str, bytes],
           captions: dict[str, str]) -> tuple[str, str]:
    """(HTML page, Markdown summary) from (title, html, markdown) sections and PNG figures."""
    stamp = time.strftime("%Y-%m-%d %H:%M")
    head = (f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(c.title)}</title>"
            f"<style>{CSS}</style></head><body><h1>uer_ray report: {html.escape(c.title)}</h1>"
            f"<p>From {html.escape(c.source)}, made {stamp}.</p>")
    md = f"# uer_ray report: {c.title}\n\nFrom {c.source}, made {stamp}.\n\n"
    for note in c.notes:
        head += f"<p class=note>{html.escape(note)}</p>"
        md += f"> {note}\n\n"
    body = ""
    for title, h, m in sections:
        body += f"<h2>{html.escape(title)}</h2>{h}"
        md += f"## {title}\n\n{m}\n"
    if figures:
        body += "<h2>Figures</h2>"
        md += "## Figures\n\n"
    for name, png in figures.items():
        data = base64.b64encode(png).decode()
        caption = captions.get(name, name)
        body += (f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
                 f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        md += f"![{caption}]({name}.png)\n\n"
    return head + body + "</body></html>\n", md
