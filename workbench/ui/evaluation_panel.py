"""The evaluation panel: where is the model wrong, and which frames should a person look at?

`EvaluationState` holds the chosen run (an `evaluate_detections` run stored in the catalog),
its results, and what the person picked: outcomes with a confidence range, a sort by outcome
count, a cell of the confusion matrix or a point of a precision/recall curve. Every pick
becomes query stages the app's view applies after its filters (`QueryState.panels`, under
"evaluation"), so the grid, the facets, the patches and the actions follow. `EvaluationPanel`
shows mAP and the per-class table, the PR curves and the confusion matrix (HoloViews over
Bokeh; a tap on a cell or a curve is the same pick as the state's methods). "Evaluate"
stores a new run over the app's view (in the background when served) and shows it.

    panel = EvaluationPanel(app.state)
    panel.state.eval_key = "eval"
    panel.state.param.update(outcomes=["fp"], confidence=(0.8, 1.0), sort_by="fp")
    panel.state.pick_cell("car", "(none)")          # cars nothing matched
    panel.state.pick_pr_point("car", recall=0.6)    # the detections counted at that point
    panel.state.param.update(pred_field="predictions", new_key="eval2", iou=0.7)
    panel.state.evaluate()                          # stored as "eval2", then shown
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import panel as pn
import param

from workbench.errors import WorkbenchError
from workbench.query import View
from workbench.ui.background import run_in_background
from workbench.ui.text import Html, TextAlert, TextPane, html, join, text

if TYPE_CHECKING:
    from workbench.analysis.evaluation import DetectionResults, PRCurve
    from workbench.query.stages import Stage
    from workbench.ui.state import WorkbenchState

PANEL = "evaluation"
OUTCOME_CHOICES = ["tp", "fp", "fn"]
SORTS = {"": "stored order", "fp": "most false positives", "fn": "most false negatives"}
FULL = (0.0, 1.0)


class EvaluationState(param.Parameterized):
    """The chosen evaluation run and the view it makes of the app's query."""

    eval_key: param.Selector[str | None] = param.Selector(default=None, objects=[], allow_None=True)
    runs = param.List(default=[], doc="Keys of the stored evaluation runs.")
    results = param.Parameter(default=None, doc="DetectionResults of `eval_key`.")
    outcomes = param.ListSelector(default=[], objects=OUTCOME_CHOICES)
    confidence = param.Range(default=FULL, bounds=FULL, doc="Of predictions (with outcomes).")
    sort_by: param.Selector[str] = param.Selector(default="", objects=list(SORTS))
    cell = param.Tuple(default=None, allow_None=True, length=2, doc="(truth, predicted)")
    pr_point = param.Tuple(
        default=None, allow_None=True, length=3, doc="(label, recall, confidence)"
    )
    colour_outcomes = param.Boolean(default=True, doc="Colour the viewer's ROIs by outcome.")
    active = param.Boolean(default=False, doc="Shown: only then does the run colour the viewer.")
    error = param.String(default="")
    # A new run: which field's ROIs are matched to which, at what IoU, stored under what key.
    pred_field: param.Selector[str | None] = param.Selector(
        default=None, objects=[], allow_None=True
    )
    gt_field: param.Selector[str | None] = param.Selector(default=None, objects=[], allow_None=True)
    iou = param.Number(default=0.5, bounds=(0.05, 0.95), step=0.05)
    new_key = param.String(default="eval", doc="Key the new run is stored under.")
    working = param.String(default="", doc="What runs now ('': nothing).")

    def __init__(self, app_state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.app_state = app_state
        self._loaded_key: str | None = None
        # The plots' tap streams (tests drive them with .event(x=..., y=...)).
        self._pr_tap: Any = None
        self._cell_tap: Any = None
        app_state.query.param.watch(self._on_panels, ["panels"])
        fields = list(app_state.fields)
        self.param.pred_field.objects = self.param.gt_field.objects = fields
        self.gt_field = _first(fields, "ground_truth", 0)
        self.pred_field = _first(fields, "predictions", 1)
        self.refresh_runs()

    def _on_panels(self, *events: Any) -> None:
        """ "Reset filters" or a saved view opened removed the panel's stages: its picks go."""
        picked = self.outcomes or self.sort_by or self.cell or self.pr_point
        if PANEL not in self.app_state.query.panels and picked:
            self.clear()

    # -- reading -------------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        """List the stored runs again (one may have been made or deleted elsewhere)."""
        from workbench.analysis.evaluation import list_evaluations

        keys = [run.eval_key for run in list_evaluations(self.app_state.catalog)]
        self.param.eval_key.objects = keys
        current = self.eval_key if self.eval_key in keys else (keys[0] if keys else None)
        self.runs = keys
        if current != self.eval_key:
            self.eval_key = current
        else:
            self._load()

    @param.depends("eval_key", watch=True)
    def _load(self) -> None:
        from workbench.analysis.evaluation import load_results

        results = None
        if self.eval_key is not None:
            try:
                results = load_results(self.app_state.catalog, self.eval_key)
            except WorkbenchError as exc:
                self.error = str(exc)
        changed = results != self.results  # the same run read again redraws nothing
        other_run = self.eval_key != self._loaded_key
        self._loaded_key = self.eval_key
        if changed or other_run:
            self.param.update(
                results=results, **({"cell": None, "pr_point": None} if other_run else {})
            )
        self._colour()
        self._apply()

    def evaluate(self) -> None:
        """Evaluate `pred_field` against `gt_field` over the app's view (without this panel's
        picks), store the run as `new_key` and show it. A key in use is refused: replacing a
        stored run is done from Python (`overwrite=True`)."""
        from workbench.analysis.evaluation import evaluate_detections

        key = self.new_key.strip()
        if self.pred_field is None or self.gt_field is None:
            self.error = "pick a field of predictions and one of ground truth"
            return
        if key in self.runs:
            self.error = f"an evaluation named {key!r} is stored: choose another name"
            return
        view = self.app_state.query.view(self.app_state.catalog, without=PANEL)
        pred, truth, iou = self.pred_field, self.gt_field, float(self.iou)
        self.param.update(working=f"evaluating {pred} against {truth}", error="")

        def done(results: Any) -> None:
            self.working = ""
            self.refresh_runs()
            self.eval_key = results.eval_key

        def failed(exc: WorkbenchError) -> None:
            self.param.update(working="", error=str(exc))

        run_in_background(
            lambda: evaluate_detections(view, pred, truth, key, iou=iou), done, failed, action=True
        )

    # -- picking -------------------------------------------------------------------------------
    def pick_cell(self, truth: str, predicted: str) -> None:
        """Show the ROIs of one confusion-matrix cell ("(none)": the background)."""
        self.param.update(cell=(str(truth), str(predicted)), pr_point=None)

    def pick_pr_point(self, label: str, recall: float) -> None:
        """Show the predictions of `label` counted at the curve's point nearest `recall`:
        those at or above the confidence that reaches it."""
        curve = self.curve(label)
        if curve is None:
            self.error = f"no precision/recall curve for {label!r}"
            return
        i = min(range(len(curve.recall)), key=lambda k: abs(curve.recall[k] - recall))
        score = float(curve.scores[i])
        self.param.update(pr_point=(curve.label, float(curve.recall[i]), score), cell=None)

    def curve(self, label: str) -> PRCurve | None:
        results: DetectionResults | None = self.results
        if results is None:
            return None
        try:
            return results.curve(label)
        except KeyError:
            return None

    def clear(self) -> None:
        self.param.update(outcomes=[], confidence=FULL, sort_by="", cell=None, pr_point=None)

    # -- the view ------------------------------------------------------------------------------
    def stages(self) -> tuple[Stage, ...]:
        """The stages the picks add to the app's view."""
        results: DetectionResults | None = self.results
        if self.eval_key is None or results is None:
            return ()
        key = self.eval_key
        view = View(self.app_state.catalog)
        if self.cell is not None:
            view = view.match_confusion(key, *self.cell)
        if self.pr_point is not None:
            label, _, score = self.pr_point
            view = view.match_eval(key, ["tp", "fp"], min_confidence=score)
            if label != "(all)":
                view = view.filter_rois(results.pred_field, labels=[label])
        if self.outcomes:
            lo, hi = self.confidence
            view = view.match_eval(
                key,
                list(self.outcomes),
                min_confidence=lo if lo > 0 else None,
                max_confidence=hi if hi < 1 else None,
            )
        if self.sort_by:
            view = view.sort_by_eval_count(key, [self.sort_by], reverse=True)
        return view.stages

    @param.depends("outcomes", "confidence", "sort_by", "cell", "pr_point", watch=True)
    def _apply(self) -> None:
        try:
            stages = self.stages()
        except WorkbenchError as exc:
            self.error = str(exc)
            return
        self.error = ""
        self.app_state.query.set_panel_stages(PANEL, stages)

    @param.depends("colour_outcomes", "active", watch=True)
    def _colour(self) -> None:
        shown = self.active and self.colour_outcomes and self.eval_key
        key = self.eval_key if shown else ""
        self.app_state.outcome_key = key

    @property
    def description(self) -> str:
        """What the picks show, in words."""
        parts = []
        if self.cell is not None:
            truth, predicted = self.cell
            parts.append(f"ground truth {truth} × predicted {predicted}")
        if self.pr_point is not None:
            label, recall, score = self.pr_point
            parts.append(f"{label} detections at confidence ≥ {score:.3f} (recall {recall:.2f})")
        if self.outcomes:
            lo, hi = self.confidence
            parts.append(f"{'/'.join(self.outcomes)} with confidence {lo:.2f}–{hi:.2f}")
        if self.sort_by:
            parts.append(SORTS[self.sort_by] + " first")
        return "; ".join(parts) or "every frame of the query"


def _first(fields: list[str], wanted: str, index: int) -> str | None:
    """`wanted` if the catalog has it, else its `index`th field (else its first, else none)."""
    if wanted in fields:
        return wanted
    return fields[index] if len(fields) > index else (fields[0] if fields else None)


# -- what the panel shows ------------------------------------------------------------------------
def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def class_table(results: DetectionResults | None) -> Html:
    """mAP and the per-class table, every label as text."""
    if results is None:
        return text("No evaluation stored: evaluate a field of predictions above.")
    head = html(
        "<div class='wb-eval-summary'>{}: {} against {} · {} at {} {} · {} frames · mAP {}</div>",
        results.eval_key,
        results.pred_field,
        results.gt_field,
        results.config.method,
        results.measure,
        f"{results.config.iou:g}",
        results.frames,
        _num(results.mAP),
    )
    columns = ("class", "AP", "precision", "recall", "tp", "fp", "fn", "support")
    header = join(html("<th>{}</th>", c) for c in columns)
    rows = join(
        html(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td></tr>",
            c.label,
            _num(c.ap),
            _num(c.precision),
            _num(c.recall),
            c.tp,
            c.fp,
            c.fn,
            c.support,
        )
        for c in results.classes
    )
    return head + html("<table class='wb-eval-table'><tr>{}</tr>{}</table>", header, rows)


def pr_plot(state: EvaluationState, results: DetectionResults | None) -> Any:
    """The PR curve of each class at the run's IoU; a tap picks the nearest curve's point."""
    import holoviews as hv

    _backend()
    if results is None or not results.curves:
        return hv.Curve([]).opts(title="no precision/recall curves", height=260, width=360)
    curves = [c for c in results.curves if abs(c.iou - results.config.iou) < 1e-9]
    overlay = hv.Overlay(
        [
            hv.Curve((list(c.recall), list(c.precision)), "recall", "precision", label=c.label)
            for c in curves
        ]
    ).opts(
        hv.opts.Curve(tools=["hover", "tap"], line_width=2),
        hv.opts.Overlay(
            title=f"precision / recall at {results.measure} {results.config.iou:g}",
            height=280,
            width=520,
            legend_position="right",
        ),
    )
    tap = hv.streams.Tap(source=overlay, x=None, y=None)

    def tapped(x: float | None, y: float | None) -> None:
        if x is None or y is None:
            return
        nearest = min(curves, key=lambda c: _distance(c, x, y))
        state.pick_pr_point(nearest.label, x)

    tap.add_subscriber(tapped)
    state._pr_tap = tap  # for tests: tap.event(x=..., y=...)
    return overlay


def _distance(curve: PRCurve, x: float, y: float) -> float:
    i = min(range(len(curve.recall)), key=lambda k: abs(curve.recall[k] - x))
    return abs(curve.precision[i] - y)


def confusion_plot(state: EvaluationState, results: DetectionResults | None) -> Any:
    """The confusion matrix, ground truth down, predictions across; a tap picks a cell."""
    import holoviews as hv

    _backend()
    if results is None:
        return hv.HeatMap([]).opts(title="no confusion matrix", height=260, width=360)
    labels = results.confusion.labels
    cells = [
        (predicted, truth, results.confusion.counts[i][j])
        for i, truth in enumerate(labels)
        for j, predicted in enumerate(labels)
    ]
    side = max(280, 40 + 28 * len(labels))
    heatmap = hv.HeatMap(cells, ["predicted", "ground truth"], "count").opts(
        tools=["hover", "tap"],
        cmap="Blues",
        logz=False,
        colorbar=False,
        xrotation=45,
        height=side,
        width=side + 120,
        title="confusion matrix (tap a cell)",
        invert_yaxis=True,
    )
    labelled = heatmap * hv.Labels(heatmap).opts(text_font_size="8pt", text_color="black")
    tap = hv.streams.Tap(source=heatmap, x=None, y=None)

    def tapped(x: Any, y: Any) -> None:
        known = x is not None and y is not None and x in labels and y in labels
        if known and not (x == y == labels[-1]):
            state.pick_cell(str(y), str(x))

    tap.add_subscriber(tapped)
    state._cell_tap = tap
    return labelled


def _working(working: str) -> Html:
    return text(working + "…" if working else "")


def _backend() -> None:
    import holoviews as hv

    if hv.Store.current_backend != "bokeh" or "bokeh" not in hv.Store.renderers:
        import holoviews.plotting.bokeh

        hv.Store.set_current_backend("bokeh")


class EvaluationPanel(pn.viewable.Viewer):
    """The panel: run picker, filters, mAP and the class table, PR curves, confusion matrix."""

    def __init__(self, app_state: WorkbenchState, **params: Any) -> None:
        super().__init__(**params)
        self.state = EvaluationState(app_state)
        s = self.state
        self.run = pn.widgets.Select.from_param(
            s.param.eval_key, name="evaluation", css_classes=["wb-eval-run"], width=200
        )
        self.refresh = pn.widgets.Button(label="↻", css_classes=["wb-eval-refresh"], width=40)
        self.refresh.on_click(lambda _: s.refresh_runs())
        self.outcomes = pn.widgets.CheckButtonGroup.from_param(
            s.param.outcomes, css_classes=["wb-eval-outcomes"], name=""
        )
        self.confidence = pn.widgets.RangeSlider.from_param(
            s.param.confidence, step=0.01, css_classes=["wb-eval-confidence"], width=220
        )
        self.sort = pn.widgets.Select.from_param(
            s.param.sort_by, options={v: k for k, v in SORTS.items()}, name="sort frames by",
            css_classes=["wb-eval-sort"], width=200,
        )  # fmt: skip
        self.colour = pn.widgets.Checkbox.from_param(
            s.param.colour_outcomes, name="colour ROIs by outcome", css_classes=["wb-eval-colour"]
        )
        self.clear = pn.widgets.Button(label="Show all", css_classes=["wb-eval-clear"])
        self.clear.on_click(lambda _: s.clear())
        self.picked = TextPane(
            pn.bind(self._picked, s.param.cell, s.param.pr_point, s.param.outcomes,
                    s.param.confidence, s.param.sort_by),
            css_classes=["wb-eval-picked"],
        )  # fmt: skip
        self.table = TextPane(
            pn.bind(class_table, s.param.results), css_classes=["wb-eval-classes"]
        )
        self.error = TextAlert(
            s.param.error, alert_type="danger", visible=pn.bind(bool, s.param.error),
            css_classes=["wb-eval-error"],
        )  # fmt: skip
        self.new_run = pn.Row(
            pn.widgets.Select.from_param(
                s.param.pred_field, name="predictions", css_classes=["wb-eval-pred"], width=160
            ),
            pn.widgets.Select.from_param(
                s.param.gt_field, name="against", css_classes=["wb-eval-gt"], width=160
            ),
            pn.widgets.FloatInput.from_param(
                s.param.iou, name="IoU", css_classes=["wb-eval-iou"], width=80
            ),
            pn.widgets.TextInput.from_param(
                s.param.new_key, name="stored as", css_classes=["wb-eval-key"], width=140
            ),
            self._evaluate_button(),
            TextPane(pn.bind(_working, s.param.working), css_classes=["wb-eval-working"]),
            styles={"flex-wrap": "wrap", "align-items": "flex-end"},
        )

    def _evaluate_button(self) -> pn.widgets.Button:
        button = pn.widgets.Button(
            label="Evaluate", color="primary", css_classes=["wb-eval-new"],
            disabled=pn.bind(bool, self.state.param.working),
        )  # fmt: skip
        button.on_click(lambda _: self.state.evaluate())
        return button

    def _picked(self, *values: Any) -> Html:
        return text("Showing: " + self.state.description)

    def __panel__(self) -> pn.viewable.Viewable:
        s = self.state
        plots = pn.Row(
            pn.pane.HoloViews(pn.bind(pr_plot, s, s.param.results), css_classes=["wb-eval-pr"]),
            pn.pane.HoloViews(
                pn.bind(confusion_plot, s, s.param.results), css_classes=["wb-eval-confusion"]
            ),
            styles={"flex-wrap": "wrap"},
        )
        controls = pn.Row(
            self.run, self.refresh, self.outcomes, self.confidence, self.sort, self.colour,
            self.clear, styles={"flex-wrap": "wrap"},
        )  # fmt: skip
        return pn.Column(
            self.new_run,
            controls,
            self.picked,
            self.error,
            self.table,
            plots,
            css_classes=["wb-evaluation"],
            sizing_mode="stretch_width",
        )
