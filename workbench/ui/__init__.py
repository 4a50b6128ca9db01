"""The workbench UI: Panel components over one param state per session.

Entry points: `workbench.ui.app.WorkbenchApp(catalog, media=None)` (inline in Jupyter or
served) and `workbench.ui.app.create_app(catalog, media)` (one per browser session). Nothing
is imported here, so `workbench.ui.media` and the server modules load without Panel's
components; see docs/ui.md.
"""
