"""A choice of values whose option labels carry counts that change with every query.

Panel's MultiChoice hands Bokeh each option's *label* as its value: a chosen "truck (12)"
stays "truck (12)" in the browser when the facets of a new query relabel the option
"truck (7)", and Choices.js, finding no option of that value, shows an empty box while the
filter stays applied. `CountedChoice` gives Bokeh each option's own value (its text) and
its label apart, and sends the chosen values again with every new set of options, so what is
chosen stays on screen whatever the counts say.
"""

from __future__ import annotations

from typing import Any

from workbench.ui.text import TextMultiChoice, text


class CountedChoice(TextMultiChoice):
    """A TextMultiChoice (labels shown as text) whose chosen values survive new labels.

    Options are `{label: value}`; values are compared by their text (labels, metadata
    values and tags are strings)."""

    def _process_param_change(self, params: dict[str, Any]) -> dict[str, Any]:
        props = super()._process_param_change(params)
        if "options" in props:
            props["options"] = [(str(v), str(text(label))) for label, v in self._items.items()]
        if "options" in props or "value" in props:
            known = {str(v) for v in self.values}
            props["value"] = [str(v) for v in self.value if str(v) in known]
        return props

    def _process_property_change(self, props: dict[str, Any]) -> dict[str, Any]:
        if "value" not in props:
            return super()._process_property_change(props)
        by_text = {str(v): v for v in self.values}
        chosen = [by_text[v] for v in props["value"] if v in by_text]
        params = super()._process_property_change({k: v for k, v in props.items() if k != "value"})
        params["value"] = chosen
        return params
