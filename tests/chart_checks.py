"""What every chart must do, checked on its figure (a dict, or a go.Figure): a student can read it."""

from __future__ import annotations

from typing import Any

from dropviz.figures import MODEL_COLORS
from dropviz.i18n import missing

MODEBAR_PX = 28  # the height of Plotly's toolbar row, top right of every chart


def as_dict(fig) -> dict[str, Any]:
    return fig if isinstance(fig, dict) else fig.to_plotly_json()


def axes(fig) -> dict[str, dict]:
    layout = as_dict(fig)["layout"]
    return {k: v for k, v in layout.items() if k.startswith(("xaxis", "yaxis")) and isinstance(v, dict)}


def title_of(axis: dict) -> str:
    title = axis.get("title") or {}
    return title if isinstance(title, str) else title.get("text") or ""


def log_axes_are_powers_of_ten(fig) -> list[str]:
    """Problems with log axes: SI prefixes (Plotly's default exponentformat) or 1×10ⁿ labels."""
    problems = []
    for key, axis in axes(fig).items():
        if axis.get("type") != "log":
            continue
        if axis.get("exponentformat") != "power":
            problems.append(f"{key}: exponentformat {axis.get('exponentformat')!r}, not 'power'")
        if "s" in (axis.get("tickformat") or ""):
            problems.append(f"{key}: SI tickformat")
        if any("1×" in str(text) for text in axis.get("ticktext") or []):
            problems.append(f"{key}: 1×10ⁿ labels")
    return problems


def untitled_axes(fig) -> list[str]:
    """Axes without a title, unless a titled one of the same quantity sits beside them: a y axis
    in the same row further left, an x axis in the same column further down."""
    found = axes(fig)

    def domain(axis: dict) -> tuple[float, float]:
        return tuple(axis.get("domain") or (0.0, 1.0))

    def across(key: str, axis: dict) -> float:  # where its panel starts along the other direction
        other = "y" if key[0] == "x" else "x"
        return domain(found.get(f"{other}axis{(axis.get('anchor') or other)[1:]}", {}))[0]

    out = []
    for key, axis in found.items():
        if axis.get("visible") is False or title_of(axis):
            continue
        if not any(k[0] == key[0] and title_of(a) and domain(a) == domain(axis) and across(k, a) < across(key, axis)
                   for k, a in found.items()):
            out.append(key)
    return out


def texts(fig) -> list[str]:
    """Every text on a chart: title, subtitle, axis titles, legend names, annotations."""
    d = as_dict(fig)
    layout = d["layout"]
    title = layout.get("title") or {}
    out = [title.get("text") or "", (title.get("subtitle") or {}).get("text") or ""]
    out += [title_of(a) for a in axes(fig).values()]
    out += [t.get("name") or "" for t in d["data"] if t.get("showlegend", True)]
    out += [a.get("text") or "" for a in layout.get("annotations") or []]
    return [t for t in out if t]


def missing_texts(fig) -> list[str]:
    marker = missing("")[0]
    return [t for t in texts(fig) if marker in t]


def title_clears_the_toolbar(fig) -> bool:
    """The title sits below the row of Plotly's toolbar (top right), and the plot below the title."""
    layout = as_dict(fig)["layout"]
    title = layout["title"]
    return (title.get("yref") == "container" and title.get("yanchor") == "top"
            and title["pad"]["t"] >= MODEBAR_PX and layout["margin"]["t"] >= MODEBAR_PX + title["font"]["size"])


def font_sizes(fig) -> list[float]:
    """Every font size a chart sets: page text, title, subtitle, legend, annotations."""
    layout = as_dict(fig)["layout"]
    sizes = [layout["font"]["size"], layout["title"]["font"]["size"], layout["legend"]["font"]["size"]]
    sizes += [(layout["title"].get("subtitle") or {}).get("font", {}).get("size", layout["font"]["size"])]
    sizes += [(a.get("font") or {}).get("size", layout["font"]["size"]) for a in layout.get("annotations") or []]
    return sizes


def colors_of(fig) -> list[str]:
    """Every colour of a line, marker or fill that a trace draws with."""
    out = []
    for t in as_dict(fig)["data"]:
        for part in ("line", "marker"):
            color = (t.get(part) or {}).get("color")
            if isinstance(color, str):
                out.append(color.upper())
        for scale in t.get("colorscale") or []:
            out.append(str(scale[1]).upper())
    return out


BLUE, ORANGE = (c.upper() for c in MODEL_COLORS)


def readable(fig) -> list[str]:
    """All the checks every chart passes, as a list of problems (empty: fine)."""
    problems = log_axes_are_powers_of_ten(fig)
    problems += [f"{key}: no title" for key in untitled_axes(fig)]
    problems += [f"missing text {t!r}" for t in missing_texts(fig)]
    if not title_clears_the_toolbar(fig):
        problems.append("title under the toolbar")
    return problems
