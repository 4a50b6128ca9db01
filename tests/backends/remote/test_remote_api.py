"""The names the remote platform packages offer are public API: pinned here."""

from workbench.backends import cvat, labelstudio, remote


def test_the_remote_kit_names_are_pinned():
    assert sorted(remote.__all__) == [
        "AuthError",
        "BadResponse",
        "ConfigurationError",
        "ErrorKinds",
        "NotConfigured",
        "OutcomeUnknown",
        "PlatformClient",
        "PlatformConfig",
        "PlatformError",
        "Rejected",
        "RetryPolicy",
        "Unavailable",
        "create_once",
        "setting",
    ]


def test_the_platforms_keep_their_older_names_and_add_the_new_ones():
    assert {
        "LabelStudioAuthError",
        "LabelStudioConfigError",
        "LabelStudioError",
        "LabelStudioRequestError",
        "LabelStudioResponseError",
        "LabelStudioUnavailable",
        "OutcomeUnknown",
        "ConfigError",
        "ResultError",
        "LabelStudioNotConfigured",
        "LabelStudioOutcomeUnknown",
    } <= set(labelstudio.__all__)
    assert {
        "CvatConfigError",
        "CvatError",
        "CvatHTTPError",
        "CvatRequestFailed",
        "CvatResponseError",
        "CvatTimeout",
        "CvatNotConfigured",
        "CvatUnavailable",
        "CvatOutcomeUnknown",
        "CvatRejected",
        "CvatAuthError",
    } <= set(cvat.__all__)
    for module in (remote, labelstudio, cvat):
        assert all(hasattr(module, name) for name in module.__all__)
