"""The test suite: a package, so shared helpers import by their path (`tests.ui.ui_catalog`)."""
