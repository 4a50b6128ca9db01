"""`WorkbenchService`, the part of the API the app uses: each of its methods has the
signature of the Workbench method of that name, so both the service and its HTTP client
(whose signatures test_client.py pins to the service's) fit it."""

import inspect

from workbench.services import Workbench, WorkbenchService
from workbench.services.client import WorkbenchClient


def _members(cls: type) -> dict[str, object]:
    return {n: m for n, m in vars(cls).items() if not n.startswith("_")}


def test_every_method_of_the_protocol_is_the_services_own():
    members = _members(WorkbenchService)
    assert {"tag_frames", "untag_frames", "save_view", "delete_view", "annotate"} <= set(members)
    for name, member in members.items():
        if isinstance(member, property):
            assert isinstance(inspect.getattr_static(Workbench, name), property), name
            assert isinstance(inspect.getattr_static(WorkbenchClient, name), property), name
            continue
        expected = inspect.signature(getattr(Workbench, name), eval_str=True)
        assert inspect.signature(member, eval_str=True) == expected, name
        assert inspect.signature(getattr(WorkbenchClient, name), eval_str=True) == expected, name


def test_the_app_calls_nothing_the_protocol_lacks():
    """Every `service.<method>` the app calls is in the protocol (so a client serves it);
    the server, which makes one in-process Workbench per login (`as_actor`), is not the app."""
    import pathlib
    import re

    import workbench.ui

    ui = pathlib.Path(workbench.ui.__file__).parent
    called = {
        m
        for path in ui.glob("*.py")
        if path.name != "server.py"
        for m in re.findall(r"\bservice\.([a-z_]+)\(", path.read_text())
    }
    assert called, "the UI calls no service method?"
    assert called <= set(_members(WorkbenchService)), called - set(_members(WorkbenchService))
