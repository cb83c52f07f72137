"""One look for every figure of the course: a colour-blind-safe colour per method (Okabe-Ito)."""

import io

import matplotlib.pyplot as plt
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

COLORS = {
    "truth": "#000000",
    "scratch": "#999999",
    "transfer": "#E69F00",
    "multitask": "#56B4E9",
    "maml": "#0072B2",
    "maml_tuned": "#6FA8DC",
    "fomaml": "#009E73",
    "imaml": "#D55E00",
    "reptile": "#CC79A7",
}

LABELS = {
    "truth": "true function",
    "scratch": "from scratch",
    "transfer": "pretrained on all tasks",
    "multitask": "multi-task head",
    "maml": "MAML",
    "maml_tuned": "MAML, 5 inner steps (tuned)",
    "fomaml": "first-order MAML",
    "imaml": "iMAML",
    "reptile": "Reptile",
}


def style():
    """Course-wide matplotlib defaults (call once at the top of a notebook)."""
    plt.rcParams.update({
        "figure.dpi": 90,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "legend.frameon": False,
        "font.size": 10,
    })


def png_bytes(fig):
    """Render a figure to PNG bytes (for an ipywidgets.Image updated in place)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", pil_kwargs={"compress_level": 1})  # fast to encode, small enough
    return buf.getvalue()


def plain_log_axis(axis, ticks=tuple(10.0**e for e in range(-6, 4))):
    """Log-axis ticks at `ticks` labelled as plain numbers (0.01, 1, 100), no minor labels:
    mathtext tick labels cost tens of ms per redraw, too much for a widget."""
    axis.set_major_locator(FixedLocator(list(ticks)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(NullLocator())
