"""ipywidgets controls for the tutorials.

Each builder returns a widget whose state can be driven and read without a
browser (set ``slider.value``, read the other traits), which is how the tests
check them. Figures are drawn into an ``ipywidgets.Output``.
"""

from __future__ import annotations

import html

import numpy as np

from .._validation import check_integer
from ..functionals import DEFAULT_CONNECTIVITY

__all__ = ["excursion_set_explorer"]

#: Sliders are this wide, so that the readout (e.g. "10.005 mm/h") keeps its natural width: in a
#: slider of ipywidgets' default 300 px the readout is squeezed to its 72 px minimum and cut.
SLIDER_WIDTH = "480px"


def _slider_options() -> dict:
    """Layout and style for every slider here: wide enough for the readout, description not cut."""
    import ipywidgets as widgets

    return {"layout": widgets.Layout(width=SLIDER_WIDTH), "style": {"description_width": "initial"}}


# ---------------------------------------------------------------- notebook 01: excursion sets


def excursion_set_explorer(field, thresholds=None, *, connectivity: int = DEFAULT_CONNECTIVITY, draw: bool = True):
    """Threshold slider showing the excursion set {field >= u} and its functionals.

    Parameters
    ----------
    field : xarray.DataArray (y, x) or 2-D array
        Rain rate in mm/h; NaN (no coverage) is handled with the ``"window"``
        policy, so the coverage edge adds no boundary length.
    thresholds : 1-D array_like, optional
        Slider positions (mm/h); default :data:`~mink_toolkit.DEFAULT_THRESHOLDS`
        (21 log-spaced values 0.105–10.005 mm/h, off OPERA's 0.01 mm/h grid).
    connectivity : {8, 4}
    draw : bool
        Draw the figure on every change (False in tests: state only).

    Returns
    -------
    ipywidgets.VBox
        With attributes ``slider`` (SelectionSlider of thresholds),
        ``summary`` (HTML with area, perimeter, χ at the current threshold)
        and ``output`` (the figure).
    """
    import ipywidgets as widgets

    from ..functionals import minkowski_functionals
    from ..thresholds import DEFAULT_THRESHOLDS

    thresholds = DEFAULT_THRESHOLDS if thresholds is None else np.asarray(thresholds, float)
    values = minkowski_functionals(field, thresholds, connectivity=connectivity, nan_policy="window")
    if not isinstance(values, np.ndarray):  # xarray Dataset
        values = np.stack([values[n].values for n in ("area", "perimeter", "euler_characteristic")], -1)
    options = [(f"{u:g} mm/h", float(u)) for u in thresholds]  # 1.005, not 1: the exact threshold
    slider = widgets.SelectionSlider(options=options, value=float(thresholds[len(thresholds) // 2]),
                                     description="threshold", continuous_update=False, **_slider_options())
    summary = widgets.HTML()
    output = widgets.Output()

    def update(change=None):
        k = int(np.searchsorted(thresholds, slider.value))
        area, length, euler = values[k]
        summary.value = (
            f"<b>u = {slider.value:g} mm/h</b>: area {area:.0f} px, "
            f"perimeter {length:.0f} px edges, Euler characteristic {euler:.0f}"
        )
        if draw:
            _draw_excursion(field, slider.value, output)

    slider.observe(update, names="value")
    update()
    box = widgets.VBox([slider, summary, output])
    box.slider, box.summary, box.output = slider, summary, output
    return box


def _draw_excursion(field, threshold, output):
    import matplotlib.pyplot as plt

    from .plotting import plot_excursion_set, plot_rain

    output.clear_output(wait=True)
    with output:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharex=True, sharey=True, constrained_layout=True)
        plot_rain(field, axes[0], title="rain rate")
        plot_excursion_set(field, threshold, axes[1], title=f"excursion set {{rain ≥ {threshold:g} mm/h}}")
        axes[1].set_ylabel("")
        plt.show()


# ---------------------------------------------------------------- notebook 05: archive time slider
# (owned by the archive analysis, mink_toolkit.curves; kept in this block)

__all__ += ["curves_at_time", "archive_time_explorer"]


def curves_at_time(curves, time_index: int, threshold: float) -> dict:
    """The functionals of one field of a curves dataset, at one threshold.

    The logic behind :func:`archive_time_explorer`, usable (and tested)
    without a browser.

    Parameters
    ----------
    curves : xarray.Dataset
        From :func:`mink_toolkit.curves.minkowski_curves`: ``area``,
        ``perimeter``, ``euler_characteristic`` on ``(time, threshold)``.
    time_index : int
        Position along ``time`` (negative counts from the end).
    threshold : float
        Must be one of ``curves.threshold`` (no interpolation between
        thresholds: the curves are exact only where they were computed).

    Returns
    -------
    dict
        ``time`` (ISO string, minutes, UTC), ``threshold``, ``area``,
        ``perimeter``, ``euler_characteristic`` (floats), ``text`` (one
        line of plain text, for ``print``) and ``summary`` (the same line as
        HTML, for the widget).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from mink_toolkit import minkowski_functionals
    >>> field = xr.DataArray(np.eye(4)[None] * 2.0, dims=("time", "y", "x"),
    ...                      coords={"time": [np.datetime64("2018-08-24T18:00", "ns")]})
    >>> row = curves_at_time(minkowski_functionals(field, [1.0]), 0, 1.0)
    >>> row["time"], row["area"], row["euler_characteristic"]
    ('2018-08-24T18:00', 4.0, 1.0)
    >>> row["text"]
    '2018-08-24T18:00 UTC, u = 1: area 4 pixel area, perimeter 16 pixel, Euler characteristic 1'
    """
    n_times = curves.sizes["time"]
    time_index = check_integer(time_index, "time_index", minimum=-n_times, maximum=n_times - 1)
    thresholds = np.asarray(curves["threshold"].values, dtype=float)
    matches = np.flatnonzero(np.isclose(thresholds, float(threshold), rtol=1e-12, atol=0.0))
    if matches.size == 0:
        raise ValueError(f"threshold {threshold!r} is not one of the curves' thresholds {thresholds.tolist()}")
    point = curves.isel(time=int(time_index), threshold=int(matches[0]))
    stamp = str(np.datetime_as_string(point["time"].values, unit="m"))
    values = {name: float(point[name].values) for name in ("area", "perimeter", "euler_characteristic")}
    units = curves["threshold"].attrs.get("units", "")
    area_unit = curves["area"].attrs.get("units", "")
    length_unit = curves["perimeter"].attrs.get("units", "")
    head = f"{stamp} UTC, u = {thresholds[matches[0]]:g} {units}".rstrip()
    body = (
        f"area {values['area']:.0f} {area_unit}, perimeter {values['perimeter']:.0f} {length_unit}, "
        f"Euler characteristic {values['euler_characteristic']:.0f}"
    ).replace(" ,", ",")
    return {"time": stamp, "threshold": float(thresholds[matches[0]]), **values,
            "text": f"{head}: {body}", "summary": f"<b>{html.escape(head)}</b>: {html.escape(body)}"}


def archive_time_explorer(series, curves, threshold: float | None = None, *, draw: bool = True):
    """Time slider over a radar series: field, excursion set and the curves so far.

    Parameters
    ----------
    series : xarray.DataArray (time, y, x)
        Rain rate (mm/h), typically lazy from :func:`mink_toolkit.io.series.open_opera`:
        only the field under the slider is read.
    curves : xarray.Dataset
        :func:`mink_toolkit.curves.minkowski_curves` of ``series``.
    threshold : float, optional
        Initial threshold, one of ``curves.threshold`` (default the middle one).
    draw : bool
        Draw the figure on every change (False in tests: state only).

    Returns
    -------
    ipywidgets.VBox
        With attributes ``slider`` (IntSlider over time positions),
        ``threshold`` (Dropdown of the curves' thresholds), ``summary``
        (HTML from :func:`curves_at_time`) and ``output`` (the figure).
    """
    import ipywidgets as widgets

    if series.sizes["time"] != curves.sizes["time"] or not np.array_equal(
        series["time"].values, curves["time"].values
    ):
        raise ValueError("series and curves must have the same times")
    thresholds = [float(u) for u in curves["threshold"].values]
    units = curves["threshold"].attrs.get("units", "")
    initial = thresholds[len(thresholds) // 2] if threshold is None else float(threshold)
    curves_at_time(curves, 0, initial)  # validates the threshold
    times = [str(np.datetime_as_string(t, unit="m")) for t in curves["time"].values]
    slider = widgets.IntSlider(value=0, min=0, max=len(times) - 1, description="time",
                               continuous_update=False, readout=False, **_slider_options())
    label = widgets.Label(value=times[0])
    chooser = widgets.Dropdown(options=[(f"{u:g} {units}", u) for u in thresholds], value=initial,
                               description="threshold")
    summary = widgets.HTML()
    output = widgets.Output()

    def update(change=None):
        row = curves_at_time(curves, slider.value, chooser.value)
        label.value = f"{row['time']} UTC"
        summary.value = row["summary"]
        if draw:
            _draw_archive_frame(series, curves, slider.value, chooser.value, output)

    slider.observe(update, names="value")
    chooser.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox([slider, label, chooser]), summary, output])
    box.slider, box.threshold, box.summary, box.output, box.label = slider, chooser, summary, output, label
    return box


def _draw_archive_frame(series, curves, time_index, threshold, output):
    import matplotlib.pyplot as plt

    from .plotting import display_step, plot_excursion_set, plot_rain

    step = display_step(series.isel(time=0))
    # reads this one file only; maps of a continental grid show every `step`-th pixel
    field = series.isel(time=time_index, y=slice(None, None, step), x=slice(None, None, step)).load()
    stamp = str(np.datetime_as_string(field["time"].values, unit="m")).replace("T", " ")
    units = curves["threshold"].attrs.get("units", "") or field.attrs.get("units", "")
    start = str(np.datetime_as_string(curves["time"].values[0], unit="m")).replace("T", " ")
    hours = (curves["time"].values - curves["time"].values[0]) / np.timedelta64(1, "h")
    output.clear_output(wait=True)
    with output:
        fig = plt.figure(figsize=(11, 8), layout="constrained")
        top, bottom = fig.subfigures(2, 1, height_ratios=[2.3, 1])
        ax_field, ax_set = top.subplots(1, 2, sharex=True, sharey=True)
        plot_rain(field, ax_field, title=f"rain rate, {stamp} UTC")
        plot_excursion_set(field, threshold, ax_set, units=units,
                           title=f"excursion set {{rain ≥ {threshold:g} {units}}}")
        ax_set.set_ylabel("")
        if step > 1:
            top.suptitle(f"maps: every {_ordinal(step)} pixel shown; the functionals below are of the full grid",
                         fontsize="medium")
        point = curves.sel(threshold=threshold)
        names = {"area": "area", "perimeter": "perimeter", "euler_characteristic": "Euler characteristic χ"}
        for ax, (name, title) in zip(bottom.subplots(1, 3), names.items()):
            ax.plot(hours, point[name].values, ".-", color="C0")
            ax.plot(hours[time_index], point[name].values[time_index], "o", color="C3")
            ax.axvline(hours[time_index], color="C3", lw=1)
            unit = curves[name].attrs.get("units", "").replace("km2", "km²")
            ax.set_title(title)
            ax.set_ylabel(unit if unit and unit != "1" else "count")
            ax.set_xlabel(f"hours since {start} UTC")
        plt.show()


def _ordinal(n: int) -> str:
    return {2: "second", 3: "third", 4: "fourth"}.get(n, f"{n}th")


# ---------------------------------------------------------------- notebook 04: super-resolution browser
# (block owned by the super-resolution module; see mink_toolkit.superres)

__all__ += ["superres_case_summary", "superres_browser", "superres_panels", "SUPERRES_COLUMNS"]

#: The column headers of :func:`superres_browser`'s table, in full (the table is as wide as the
#: notebook and its headers wrap, so none is cut).
SUPERRES_COLUMNS = (
    "model",
    "mean absolute error (mm/h)",
    "fractions skill score at 1 mm/h, 1-pixel window",
    "fractions skill score at 1 mm/h, 9-pixel window",
    "maximum rain rate, predicted / true (mm/h)",
    "high-wavenumber power ratio, predicted / true",
)


# The HTML widget's text sits on 28 px lines that do not wrap; the table sets its own.
_TABLE_START = (
    '<table style="border-spacing: 14px 2px; line-height: 1.35; white-space: normal">'
    "<tr>" + "".join(f'<th style="max-width: 11em; vertical-align: bottom; text-align: left">{html.escape(name)}</th>'
                     for name in SUPERRES_COLUMNS) + "</tr>"
)


def superres_case_summary(predictions: dict, truth, case: int, model: str, *, threshold: float = 1.0) -> dict:
    """Per-case scores shown by :func:`superres_browser` (pure logic, no widgets).

    Parameters
    ----------
    predictions : dict of str -> ndarray (N, H, W)
        Fine rain rates (mm/h) of each model.
    truth : ndarray (N, H, W)
        True rain rates (mm/h).
    case : int
        Index of the patch.
    model : str
        Key of ``predictions``.
    threshold : float
        FSS threshold (mm/h).

    Returns
    -------
    dict
        ``mae``, ``fss_1px``, ``fss_9px`` (at ``threshold``), ``max_pred``,
        ``max_true``, ``rapsd_high_ratio`` (cut-off 1/16 cycles/pixel, the
        Nyquist frequency of a ×8 coarse grid).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.random.default_rng(0).gamma(0.5, 2.0, (2, 32, 32))
    >>> superres_case_summary({"truth": t}, t, 1, "truth")["fss_1px"]
    1.0
    """
    from .. import verification as metrics

    if model not in predictions:
        raise ValueError(f"model must be one of {tuple(predictions)}; got {model!r}")
    truth = np.asarray(truth, dtype=float)
    if not 0 <= case < truth.shape[0]:
        raise ValueError(f"case must be in [0, {truth.shape[0] - 1}]; got {case}")
    p, t = np.asarray(predictions[model], dtype=float)[case], truth[case]
    return {
        "mae": metrics.mae(p, t),
        "fss_1px": metrics.fractions_skill_score(p, t, threshold, 1),
        "fss_9px": metrics.fractions_skill_score(p, t, threshold, 9),
        "max_pred": float(p.max()),
        "max_true": float(t.max()),
        "rapsd_high_ratio": metrics.high_wavenumber_power_ratio(p, t, 1.0 / 16),
    }


def superres_browser(coarse, predictions: dict, truth, *, ensembles: dict | None = None, pixel_km: float = 2.0,
                     draw: bool = True):
    """Browse super-resolution cases: coarse input, chosen models (and ensemble members) and truth side by side.

    Parameters
    ----------
    coarse : ndarray (N, h, w)
        Coarse input (mm/h).
    predictions : dict of str -> ndarray (N, H, W)
        Fine outputs of each deterministic model (mm/h).
    truth : ndarray (N, H, W)
    ensembles : dict of str -> ndarray (M, N, H, W), optional
        Members of stochastic generators (mm/h); each appears as a model
        whose panel shows the member chosen with the ``member`` slider.
    pixel_km : float
        Fine pixel size; every panel (the coarse input included) is drawn
        on the same axes in km.
    draw : bool
        Draw on every change (False in tests: state only).

    Returns
    -------
    ipywidgets.VBox
        Attributes ``case`` (IntSlider), ``member`` (IntSlider, disabled
        without ensembles), ``models`` (SelectMultiple of the names to
        show), ``summary`` (HTML table of :func:`superres_case_summary` per
        shown model, for a generator its shown member, headed by
        :data:`SUPERRES_COLUMNS`), ``output``.
    """
    import ipywidgets as widgets

    truth = np.asarray(truth, dtype=float)
    ensembles = {name: np.asarray(e) for name, e in (ensembles or {}).items()}
    for name, e in ensembles.items():
        if e.ndim != 4 or e.shape[1:] != truth.shape:
            raise ValueError(f"ensembles[{name!r}] must be shaped (M, *truth.shape); got {e.shape}")
    names = list(predictions) + [n for n in ensembles if n not in predictions]
    n_members = min((e.shape[0] for e in ensembles.values()), default=1)
    case = widgets.IntSlider(value=0, min=0, max=truth.shape[0] - 1, description="case", continuous_update=False,
                             **_slider_options())
    member = widgets.IntSlider(value=0, min=0, max=n_members - 1, description="member", continuous_update=False,
                               disabled=not ensembles, **_slider_options())
    default = [n for n in names if n in ("unet_mse", "generator")] or names[:2]
    models = widgets.SelectMultiple(options=names, value=tuple(default), description="models",
                                    rows=min(8, len(names)))
    summary = widgets.HTML(layout=widgets.Layout(width="100%"))
    output = widgets.Output()

    def fields():
        shown = {}
        for name in models.value:
            if name in ensembles:
                shown[f"{name} (member {member.value})"] = ensembles[name][member.value]
            else:
                shown[name] = predictions[name]
        return shown

    def update(change=None):
        shown = fields()
        rows = []
        for label, field in shown.items():
            s = superres_case_summary({label: field}, truth, case.value, label)
            rows.append(
                f"<tr><td>{label}</td><td>{s['mae']:.3f}</td><td>{s['fss_1px']:.3f}</td><td>{s['fss_9px']:.3f}</td>"
                f"<td>{s['max_pred']:.1f} / {s['max_true']:.1f}</td><td>{s['rapsd_high_ratio']:.3f}</td></tr>"
            )
        summary.value = _TABLE_START + "".join(rows) + "</table>"
        if draw:
            _draw_superres(coarse, shown, truth, case.value, output, pixel_km)

    for control in (case, member, models):
        control.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox([widgets.VBox([case, member]), models]), summary, output])
    box.case, box.member, box.models, box.summary, box.output = case, member, models, summary, output
    return box


def superres_panels(coarse, fields: dict, truth, index: int, *, pixel_km: float = 2.0, axes=None):
    """Draw coarse input, ``fields`` and truth of one case in a row, all on the same km axes.

    Parameters
    ----------
    coarse : ndarray (N, h, w)
    fields : dict of str -> ndarray (N, H, W)
        Panels between the coarse input and the truth, in order.
    truth : ndarray (N, H, W)
    index : int
        The case.
    pixel_km : float
        Fine pixel size (the coarse pixels are ``H / h`` times larger).
    axes : sequence of matplotlib Axes, optional
        ``len(fields) + 2`` axes; default: a new row of subplots.

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib.pyplot as plt

    from .plotting import plot_rain

    truth = np.asarray(truth)
    panels = [("coarse input", np.asarray(coarse)[index])] + [
        (n, np.asarray(f)[index]) for n, f in fields.items()] + [("truth", truth[index])]
    if axes is None:
        fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.2), constrained_layout=True)
    axes = np.atleast_1d(axes)
    height, width = truth.shape[-2] * pixel_km, truth.shape[-1] * pixel_km
    for ax, (title, field) in zip(axes, panels):
        image = plot_rain(field, ax, title=title, colorbar=ax is axes[-1])
        image.set_extent((0.0, width, height, 0.0))  # one km frame for the coarse and the fine grids
        ax.set_xlabel("x (km)")
        ax.set_ylabel("y (km)" if ax is axes[0] else "")
    return axes[0].figure


def _draw_superres(coarse, fields, truth, index, output, pixel_km):
    import matplotlib.pyplot as plt

    output.clear_output(wait=True)
    with output:
        superres_panels(coarse, fields, truth, index, pixel_km=pixel_km)
        plt.show()


# ---------------------------------------------------------------- notebook 02: soft excursion sets

__all__ += ["soft_excursion_summary", "soft_excursion_explorer"]


def soft_excursion_summary(field, threshold: float, temperature: float, *, tnorm: str = "product") -> dict:
    """Soft excursion set and its relaxed vs exact functionals at one (u, T).

    The update logic of :func:`soft_excursion_explorer`, usable without a
    browser.

    Parameters
    ----------
    field : xarray.DataArray (y, x) or 2-D array, finite
        Rain rate in mm/h (a NaN-free patch, e.g. from
        :func:`~mink_toolkit.extract_patches` with ``min_coverage=1``).
    threshold : float
        u in mm/h.
    temperature : float, > 0
        Absolute T in mm/h.
    tnorm : {"product", "godel", "lukasiewicz"}

    Returns
    -------
    dict
        ``membership`` (H, W) ndarray σ((x − u)/T); ``soft`` and ``exact``:
        (area, perimeter, euler_characteristic) as floats (pixels, edges);
        ``ties``: number of pixels at u to within 1e-9 (decoded radar values
        carry float noise; membership 0.5 at every practical T).

    Examples
    --------
    >>> import numpy as np
    >>> field = np.zeros((6, 6)); field[1:4, 1:4] = 2.0
    >>> out = soft_excursion_summary(field, 1.0, 1e-3)
    >>> out["soft"], out["exact"]
    ((9.0, 12.0, 1.0), (9.0, 12.0, 1.0))
    """
    import torch

    from ..functionals import minkowski_functionals
    from ..relax import membership_functionals, soft_threshold

    values = np.asarray(field, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"field must be 2-D (y, x); got shape {values.shape}")
    x = torch.as_tensor(values)
    membership = soft_threshold(x, float(threshold), float(temperature))
    soft = membership_functionals(membership, tnorm=tnorm)
    exact = minkowski_functionals(values, [float(threshold)])[0]
    return {
        "membership": membership.numpy(),
        "soft": tuple(round(float(v), 6) for v in soft),
        "exact": tuple(float(v) for v in exact),
        "ties": int(np.count_nonzero(np.abs(values - float(threshold)) <= 1e-9)),
    }


def soft_excursion_explorer(field, thresholds=None, *, temperature: float = 0.05, draw: bool = True):
    """Sliders for threshold u and temperature T showing the soft excursion set σ((x − u)/T).

    Parameters
    ----------
    field : xarray.DataArray (y, x) or 2-D array, finite
        Rain rate in mm/h (NaN-free patch).
    thresholds : 1-D array_like, optional
        Threshold slider positions (mm/h); default 21 log-spaced values
        0.1–10 mm/h moved half a quantum off the 0.01 mm/h data grid.
    temperature : float
        Initial T in mm/h; the slider is logarithmic from 1e-4 to 10 mm/h.
    draw : bool
        Draw the figure on every change (False in tests: state only).

    Returns
    -------
    ipywidgets.VBox
        With attributes ``threshold_slider`` (SelectionSlider),
        ``temperature_slider`` (FloatLogSlider), ``summary`` (HTML with
        soft vs exact functionals) and ``output`` (the figure).
    """
    import ipywidgets as widgets

    from ..thresholds import DEFAULT_THRESHOLDS

    if thresholds is None:
        thresholds = DEFAULT_THRESHOLDS
    thresholds = np.asarray(thresholds, dtype=float)
    values = np.asarray(field, dtype=np.float64)
    if values.ndim != 2 or not np.isfinite(values).all():
        raise ValueError("field must be a finite 2-D array (cut a NaN-free patch first)")
    options = [(f"{u:g} mm/h", float(u)) for u in thresholds]
    threshold_slider = widgets.SelectionSlider(
        options=options, value=float(thresholds[len(thresholds) // 2]), description="u",
        continuous_update=False, **_slider_options(),
    )
    temperature_slider = widgets.FloatLogSlider(
        value=temperature, base=10, min=-4, max=1, step=0.1, description="T (mm/h)",
        continuous_update=False, readout_format=".1e", **_slider_options(),
    )
    summary = widgets.HTML()
    output = widgets.Output()

    def update(change=None):
        out = soft_excursion_summary(values, threshold_slider.value, temperature_slider.value)
        (sa, sp, se), (ea, ep, ee) = out["soft"], out["exact"]
        summary.value = (
            f"<b>u = {threshold_slider.value:g} mm/h, T = {temperature_slider.value:.2g} mm/h</b>: "
            f"area {sa:.1f} (exact {ea:.0f}) px, perimeter {sp:.1f} ({ep:.0f}) px edges, "
            f"Euler characteristic {se:.2f} ({ee:.0f}); ties at u: {out['ties']}"
        )
        if draw:
            _draw_soft_excursion(field, out["membership"], threshold_slider.value, temperature_slider.value, output)

    threshold_slider.observe(update, names="value")
    temperature_slider.observe(update, names="value")
    update()
    box = widgets.VBox([threshold_slider, temperature_slider, summary, output])
    box.threshold_slider, box.temperature_slider = threshold_slider, temperature_slider
    box.summary, box.output = summary, output
    return box


def _draw_soft_excursion(field, membership, threshold, temperature, output):
    import matplotlib.pyplot as plt

    from .plotting import extent_km, plot_rain

    output.clear_output(wait=True)
    with output:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
        plot_rain(field, axes[0], title="rain rate")
        extent = extent_km(field)
        image = axes[1].imshow(membership, cmap="Blues", vmin=0, vmax=1, extent=extent, interpolation="nearest")
        axes[1].set_title(f"membership σ((x − u)/T), u = {threshold:g} mm/h, T = {temperature:.2g} mm/h",
                          fontsize="medium")
        unit = "km, LAEA" if extent is not None else "pixels"
        axes[1].set_xlabel(f"x ({unit})")
        axes[1].set_ylabel(f"y ({unit})")
        fig.colorbar(image, ax=axes[1], label="membership (1)", shrink=0.8)
        plt.show()


# ---------------------------------------------------------------- notebook 03: surrogate gradients

__all__ += ["surrogate_gradient_explorer"]


def surrogate_gradient_explorer(models: dict, rain, target, *, draw: bool = True):
    """Widget: pick a surrogate and a field, see the gradient it gives and how smooth it is.

    The gradient is :func:`mink_toolkit.surrogate.gradient_maps`: that of the
    functional distance between the field (e.g. a blurred prediction) and
    ``target`` (e.g. the exact functionals of the truth).

    Parameters
    ----------
    models : dict of str to surrogate
        The choices (e.g. a CNN bounded in several ways, and the additive model).
    rain : ndarray, shape (N, H, W), mm/h
    target : ndarray, shape (N, n, 3)
        Target functionals of each field.
    draw : bool
        Draw the figure on every change (False in tests: state only).

    Returns
    -------
    ipywidgets.VBox
        With attributes ``model`` (Dropdown), ``field`` (IntSlider), ``summary``
        (HTML: high-wavenumber share, total variation and RMS of the gradient)
        and ``output`` (the figure).
    """
    import ipywidgets as widgets

    from ..verification import high_wavenumber_share
    from ..surrogate import gradient_maps
    from ..surrogate.gradients import HIGH_WAVENUMBER_CUTOFF

    rain = np.asarray(rain, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if rain.ndim != 3 or target.ndim != 3 or target.shape[0] != rain.shape[0]:
        raise ValueError(f"rain (N, H, W) and target (N, n, 3) must match; got {rain.shape} and {target.shape}")
    if not models:
        raise ValueError("models is empty: give at least one surrogate")
    model = widgets.Dropdown(options=list(models), description="surrogate")
    field = widgets.IntSlider(value=0, min=0, max=len(rain) - 1, description="field", continuous_update=False,
                              **_slider_options())
    summary = widgets.HTML()
    output = widgets.Output()

    def update(change=None):
        k = field.value
        grad = gradient_maps(models[model.value], rain[k : k + 1], target[k : k + 1])[0]
        mean_abs = float(np.abs(grad).mean())
        tv = float(np.abs(np.diff(grad, axis=-1)).mean() + np.abs(np.diff(grad, axis=-2)).mean())
        summary.value = (
            f"{model.value}, field {k}: high-wavenumber share "
            f"{high_wavenumber_share(grad[None], HIGH_WAVENUMBER_CUTOFF):.3f}, total variation "
            f"{tv / mean_abs if mean_abs else float('nan'):.3f}, RMS {float(np.sqrt(np.mean(grad**2))):.3g} per mm/h"
        )
        if draw:
            _draw_gradient(rain[k], grad, model.value, output)

    model.observe(update, names="value")
    field.observe(update, names="value")
    update()
    box = widgets.VBox([widgets.HBox([model, field]), summary, output])
    box.model, box.field, box.summary, box.output = model, field, summary, output
    return box


def _draw_gradient(rain, grad, name, output):
    import matplotlib.pyplot as plt

    from .plotting import plot_rain

    output.clear_output(wait=True)
    with output:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
        plot_rain(rain, ax=axes[0], title="field")
        limit = float(np.abs(grad).max()) or 1.0
        image = axes[1].imshow(grad, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        axes[1].set_title(f"gradient of the loss, {name}")
        axes[1].set_xlabel("x (pixels)")
        axes[1].set_ylabel("y (pixels)")
        fig.colorbar(image, ax=axes[1], label="∂loss/∂x (per mm/h)")
        plt.show()
