"""The rules every figure follows, in one place: colour ranges, colour maps by kind of data, tick formats, which
axis is up, and how a multi-channel signal is shown.

Every figure builder (`figures.py`, `animation.py`), every page and every export (HTML, PNG, the PyVista view)
asks this module, so the same values look the same everywhere and a colour bar says how it was scaled.

Kinds of data:
- "signal": a field's values; a sequential map (the view's `cmap`).
- "signed": values whose sign matters (eigenvectors, signed errors); a diverging map centred at 0.
- "error": absolute or squared errors; a sequential map from white (no error) to dark, starting at 0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

KINDS = ("signal", "signed", "error")
# Perceptually uniform maps, named as matplotlib (PyVista) names them; Plotly accepts the same names.
# viridis is the default: readable with every common colour-vision deficiency and in grey.
SEQUENTIAL_MAPS = ("viridis", "cividis", "magma", "plasma", "inferno")
DIVERGING_MAPS = ("RdBu_r", "PuOr_r", "BrBG_r")
ERROR_MAP = "magma_r"  # near-white at 0 to black: small errors fade out, large ones stand out
RANGE_MODES = ("auto", "full", "manual")
CLIP_PERCENTILES = (0.5, 99.5)  # "auto": a few outliers do not wash out the rest of the map
UP_AXES = ("auto", "x", "y", "z")
DRAW_AS = ("mesh", "points")
# Plain decimal or scientific ticks (d3 format "~g": 0.25, 1e-9), never SI prefixes (70n, 5f, 100µ).
TICK_FORMAT = ".3~g"
FLAT_LIGHTING = dict(ambient=1.0, diffuse=0.0, specular=0.0, fresnel=0.0, roughness=1.0)  # colours read as the bar


@dataclass(frozen=True)
class View:
    """How values are shown: the user's choices (sidebar "View settings", `ginr export` options).

    `vmin`/`vmax` are used by range mode "manual" on signal panels (errors and signed values keep their own
    rules: from 0, centred at 0). `channel`: which column of a multi-channel signal is drawn, or "rgb" to draw
    three channels in [0, 1] (or 0-255) as vertex colours ("auto": rgb when they qualify, else channel 0).
    """

    cmap: str = SEQUENTIAL_MAPS[0]
    diverging: str = DIVERGING_MAPS[0]
    range_mode: str = "auto"
    vmin: float | None = None
    vmax: float | None = None
    up: str = "auto"
    draw_as: str = "mesh"
    channel: int | str = "auto"

    def __post_init__(self):
        for name, value, allowed in (("range_mode", self.range_mode, RANGE_MODES), ("up", self.up, UP_AXES),
                                     ("draw_as", self.draw_as, DRAW_AS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if self.range_mode == "manual" and (self.vmin is None or self.vmax is None or self.vmax <= self.vmin):
            raise ValueError("a manual colour range needs min < max")

    def with_range(self, spec: str) -> View:
        """The view with a colour range given as text: 'auto', 'full' or 'MIN,MAX' (the CLI's --colour-range)."""
        if spec in ("auto", "full"):
            return replace(self, range_mode=spec)
        try:
            lo, hi = (float(part) for part in spec.split(","))
        except ValueError:
            raise ValueError(f"colour range must be auto, full or MIN,MAX; got {spec!r}") from None
        return replace(self, range_mode="manual", vmin=lo, vmax=hi)


DEFAULT_VIEW = View()


def group_view(panels: list[np.ndarray], view: View = DEFAULT_VIEW) -> View:
    """The view of panels that share a scale: when one of them is a colour signal (the truth), all are drawn as
    colours (its prediction strays past [0, 1] a little and must not switch to one channel)."""
    if view.channel == "auto" and any(is_rgb(values) for values in panels):
        return replace(view, channel="rgb")
    return view


@dataclass(frozen=True)
class Scale:
    """One colour scale: range, map and the note that goes on its colour bar."""

    lo: float
    hi: float
    cmap: str
    note: str = ""

    def __getitem__(self, index):
        """(lo, hi) unpack like the ranges they replace: `lo, hi = scale[:2]`."""
        return (self.lo, self.hi)[index]

    def colorbar(self, title: str = "", **placement) -> dict:
        """Plotly colour bar: the range note in its title, plain ticks."""
        text = "<br>".join(part for part in (title, self.note) if part)
        return dict(title=dict(text=text, side="right", font=dict(size=11)), tickformat=TICK_FORMAT,
                    exponentformat="e", thickness=12, **placement)


def colour_map(kind: str, view: View = DEFAULT_VIEW) -> str:
    """The map for a kind of data: the view's sequential map for signals, its diverging map for signed values,
    white-to-dark for errors."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return {"signal": view.cmap, "signed": view.diverging, "error": ERROR_MAP}[kind]


def _finite(*arrays) -> np.ndarray:
    values = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays]) if arrays else np.zeros(0)
    return values[np.isfinite(values)]


def colour_scale(kind: str, *arrays, view: View = DEFAULT_VIEW) -> Scale:
    """One colour scale for all `arrays` (panels that share a scale pass all their values).

    auto: the 0.5-99.5th percentiles (of each array, then the median of those ranges: one outlying panel, a
    method's spiky Laplacian say, saturates instead of washing out the others), stated on the bar when values lie
    beyond; full: min to max; manual: the view's min / max (signal panels). Signed data is centred at 0; error
    data starts at 0.
    """
    values = _finite(*arrays)
    if not len(values):
        values = np.zeros(1)
    mode = view.range_mode if kind == "signal" or view.range_mode != "manual" else "auto"
    if mode == "manual":
        lo, hi, note = float(view.vmin), float(view.vmax), "manual range"
    elif mode == "full":
        lo, hi, note = float(values.min()), float(values.max()), ""
    else:
        panels = [panel for panel in (_finite(a) for a in arrays) if len(panel)] or [values]
        lo, hi = np.median([np.percentile(panel, CLIP_PERCENTILES) for panel in panels], axis=0)
        lo, hi = float(lo), float(hi)
        clipped = (values < lo).any() or (values > hi).any()
        low, high = (f"{p:g}" for p in CLIP_PERCENTILES)
        note = f"clipped to {low}–{high}th pct" if clipped else ""
    if kind == "signed":
        m = max(abs(lo), abs(hi))
        lo, hi = -m, m
    elif kind == "error":
        lo = 0.0
    if hi <= lo:
        hi = lo + max(abs(lo), 1.0) * 1e-9
    return Scale(lo, hi, colour_map(kind, view), note)


# ----------------------------------------------------------------------------------------------- axes
LOG_AXIS = dict(type="log", dtick=1, exponentformat="power", minor=dict(showgrid=False))  # decades only: no "2, 5"
LOG_STEPS = ((1, 2, 5), tuple(range(1, 10)))  # ticks within a decade, sparse first, for data spanning too few decades


def log_axis(*arrays) -> dict:
    """LOG_AXIS where the data span three decades or more; for less (wavelengths from 0.3 to 6, say, where
    decades give one tick) ticks at 1, 2, 5 x 10^n within the data (every digit if that leaves under three, and
    Plotly's own ticks on a range too narrow for those)."""
    values = _finite(*arrays)
    values = values[values > 0]
    if not len(values):
        return LOG_AXIS
    low, high = values.min(), values.max()
    decades = 10.0 ** np.arange(np.floor(np.log10(low)), np.ceil(np.log10(high)) + 1)
    if np.sum((decades >= low) & (decades <= high)) >= 3:
        return LOG_AXIS
    for steps in LOG_STEPS:
        ticks = [float(step * d) for d in decades for step in steps if low <= step * d <= high]
        if len(ticks) >= 3:
            return dict(LOG_AXIS, dtick=None, tickvals=ticks, tickformat=",.3~r")  # 20,000 and 0.5, not 2e+4
    return dict(LOG_AXIS, dtick=None, tickformat=",.3~r")  # under a factor of 3: Plotly's own ticks


PLAIN_AXIS = dict(tickformat=TICK_FORMAT, exponentformat="e")
R2_AXIS = dict(range=[0, 1], dtick=0.2, tickformat=".1f")  # R² ticks 0, 0.2, ..., 1


# ------------------------------------------------------------------------------------------------ up
_AXES = "xyz"


def detect_up(vertices: np.ndarray) -> str:
    """Which axis is up, from the mesh's extent.

    A flat shape (thinnest extent under 0.2 of the largest: a terrain, a grid) or a disc-like one (under 0.6, the
    other two within 20% of each other: a torus, a knot) lies flat: its thin axis is up. A shape as deep in z as
    tall in y (within ROUND) is round: z is up (a sphere's poles, the Earth's axis). Otherwise y is up, the
    convention of scans and OBJ / glTF files (the Stanford bunny; a standing animal, often longer in z than tall),
    unless z is clearly the taller (TALL_Z times y: a statue from a z-up file). Override it (View.up) where this
    guess is wrong.
    """
    extent = np.ptp(np.asarray(vertices, dtype=np.float64), axis=0)
    thin = int(np.argmin(extent))
    others = np.delete(extent, thin)
    disc = extent[thin] < 0.6 * extent.max() and others.min() >= 0.8 * others.max()
    if extent[thin] < 0.2 * extent.max() or disc:
        return _AXES[thin]
    y, z = extent[1], extent[2]
    return "z" if abs(z - y) <= ROUND * max(y, z) or z >= TALL_Z * y else "y"


ROUND = 0.05  # y and z extents this close: a round shape, z up
TALL_Z = 1.5  # z this many times y's extent: the shape stands along z


def up_axis(vertices: np.ndarray, view: View = DEFAULT_VIEW) -> str:
    """The view's up axis, detected when it is "auto"."""
    return detect_up(vertices) if view.up == "auto" else view.up


def camera(up: str, distance: float = 1.0) -> dict:
    """A Plotly camera looking at the shape from above one corner, `up` upwards; `distance` steps back."""
    eye = {axis: (1.0 if axis == up else 1.4) * distance for axis in _AXES}
    return dict(eye=eye, up={axis: int(axis == up) for axis in _AXES}, center=dict(x=0, y=0, z=0))


PANEL_FILL = 0.8  # the share of a panel (its width or height, whichever binds) a shape fills
TAN_HALF_FIELD_OF_VIEW = 0.45  # Plotly's perspective, measured: a unit sphere seen from camera(up, 1) fills 0.51
# of a panel's height (Plotly's "data" aspect scales the axes so their ranges' geometric mean is 1 unit)
FIT_POINTS = 4000  # vertices looked at to fit the camera


def camera_distance(vertices: np.ndarray, up: str, aspect: float) -> float:
    """camera()'s `distance` at which the shape, seen in perspective from its eye, fills PANEL_FILL of a panel
    `aspect` (width / height) wide: one distance for every figure left meshes a fifth of a grid cell, or cut off."""
    points = np.asarray(vertices, dtype=np.float64)
    points = points[:: max(1, len(points) // FIT_POINTS)]
    extent = np.ptp(points, axis=0)
    if not extent.max() > 0:
        return 1.0
    unit = np.exp(np.mean(np.log(np.maximum(extent, 1e-3 * extent.max()))))
    points = (points - (points.min(axis=0) + points.max(axis=0)) / 2) / unit
    eye = np.array([camera(up)["eye"][axis] for axis in _AXES])
    towards = eye / np.linalg.norm(eye)
    right = np.cross(up_vector(up), towards)
    right /= np.linalg.norm(right)
    across, along, depth = points @ right, points @ np.cross(towards, right), points @ towards

    def overfill(distance: float) -> float:
        away = distance * np.linalg.norm(eye) - depth
        if away.min() <= 0:
            return np.inf
        width, height = 2 * np.abs(across / away).max(), 2 * np.abs(along / away).max()  # about the box's centre
        return max(height, width / aspect) / (2 * TAN_HALF_FIELD_OF_VIEW) / PANEL_FILL

    near, far = 1e-2, 1e2
    for _ in range(40):  # bisection on a log scale: the shape shrinks as the camera steps back
        middle = np.sqrt(near * far)
        near, far = (middle, far) if overfill(middle) > 1 else (near, middle)
    return float(far)


def pyvista_view(vertices: np.ndarray, view: View = DEFAULT_VIEW) -> tuple[tuple, tuple]:
    """PyVista's `view_vector(direction, viewup)` arguments: the Plotly camera's eye and up, so both viewers agree."""
    up = up_axis(vertices, view)
    eye = camera(up)["eye"]
    return (eye["x"], eye["y"], eye["z"]), up_vector(up)


def up_vector(up: str) -> tuple[int, int, int]:
    """The up axis as a vector (PyVista's view-up)."""
    return tuple(int(axis == up) for axis in _AXES)


# ----------------------------------------------------------------------------------------- channels
def is_rgb(values: np.ndarray) -> bool:
    """Three channels of colour: all in [0, 1], or whole numbers in [0, 255]."""
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[1] != 3 or not np.isfinite(values).all() or not len(values):
        return False
    if values.min() < 0:
        return False
    return values.max() <= 1 or (values.max() <= 255 and np.allclose(values, np.round(values)))


def rgb_colours(values: np.ndarray) -> np.ndarray:
    """RGB channels as 0-255 integers per vertex (n, 3), clipped: a prediction of colours strays a little past
    them. Values up to 1.5 are read as [0, 1] colours, larger ones as 0-255."""
    values = np.asarray(values, dtype=np.float64)
    scaled = values * 255 if np.nanmax(values) <= 1.5 else values
    return np.clip(np.round(np.nan_to_num(scaled)), 0, 255).astype(np.uint8)


def shown_channel(values: np.ndarray, view: View = DEFAULT_VIEW) -> tuple[np.ndarray, bool]:
    """What a panel draws of `values`: (the values, True) for RGB colours, or (one channel, False).
    channel "rgb" draws any three channels as colours; "auto" those that are colours (`is_rgb`)."""
    values = np.asarray(values)
    if values.ndim == 1:
        return values, False
    if values.shape[1] == 3 and (view.channel == "rgb" or (view.channel == "auto" and is_rgb(values))):
        return values, True
    channel = view.channel if isinstance(view.channel, int) else 0
    return values[:, min(channel, values.shape[1] - 1)], False
