"""A small REST client for Label Studio: token handling and the endpoints the backend uses.

Sending, retries and errors are the shared client's (workbench.backends.remote.http): its
error table says what is retried, and every failure is one of this backend's errors
(errors.py). A personal access token (a JWT) is exchanged for a short-lived access token at
POST /api/token/refresh/, renewed before it expires and once more if the server answers 401.
A legacy token is sent as `Authorization: Token ...` unchanged.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from random import random as _random
from typing import Any, ClassVar

import httpx

from workbench.backends.labelstudio.config import LabelStudioConfig
from workbench.backends.labelstudio.errors import (
    ERRORS,
    LabelStudioAuthError,
    LabelStudioError,
    LabelStudioOutcomeUnknown,
    LabelStudioRequestError,
    LabelStudioResponseError,
    LabelStudioUnavailable,
)
from workbench.backends.remote import http
from workbench.backends.remote.errors import ErrorKinds

# The older name, kept for code that catches it.
OutcomeUnknown = LabelStudioOutcomeUnknown

# An access token is renewed when it has less than this many seconds left.
REFRESH_MARGIN = 30.0
# Label Studio's access tokens live 300 s; used when a token does not say.
ACCESS_LIFETIME = 300.0


def is_jwt(token: str) -> bool:
    """Whether a token is a JWT (a personal access token) rather than a legacy token."""
    parts = token.split(".")
    return len(parts) == 3 and _jwt_part(parts[0]).get("alg") is not None


def _jwt_part(segment: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


class LabelStudioClient(http.PlatformClient):
    """One server, one token. Use as a context manager, or call `close()`.

    `transport` replaces the network (tests use an in-process one or a proxy); `sleep` is what
    waits between retries, `random` draws the jitter.
    """

    errors: ClassVar[ErrorKinds] = ERRORS

    def __init__(
        self,
        config: LabelStudioConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random,
    ) -> None:
        super().__init__(
            config.api_url,
            policy=config.retry_policy(),
            timeout=httpx.Timeout(config.timeout, connect=config.connect_timeout),
            headers={"User-Agent": "workbench-labelstudio"},
            verify=config.verify,
            transport=transport,
            sleep=sleep,
            random=random,
        )
        self.config = config
        self._pat = config.token if is_jwt(config.token) else None
        self._access: str | None = None
        self._access_expires = 0.0

    # -- requests -------------------------------------------------------------------------
    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, *, idempotent: bool = False, **params: Any) -> Any:
        return self.request("POST", path, params=params, json=body, idempotent=idempotent)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str, *, missing_ok: bool = True) -> None:
        """DELETE; a 404 counts as done when `missing_ok` (a retried delete finds nothing)."""
        self.request("DELETE", path, missing_ok=missing_ok)

    # -- authentication -------------------------------------------------------------------
    def _auth_headers(self) -> dict[str, str]:
        if self._pat is None:
            return {"Authorization": f"Token {self.config.token}"}
        if self._access is None or time.time() > self._access_expires - REFRESH_MARGIN:
            self._refresh()
        return {"Authorization": f"Bearer {self._access}"}

    def _renew_auth(self) -> bool:
        """After a 401: an access token expired or was revoked early; get a new one, once."""
        if self._pat is None:
            return False
        self._access = None
        return True

    def _refresh(self) -> None:
        try:
            body = self.request(
                "POST",
                "/api/token/refresh/",
                json={"refresh": self._pat},
                idempotent=True,
                authenticated=False,
            )
        except (LabelStudioRequestError, LabelStudioAuthError) as exc:
            raise LabelStudioAuthError(
                f"the personal access token was refused at POST /api/token/refresh/ ({exc}); "
                "it may have expired or been revoked"
            ) from exc
        access = body.get("access") if isinstance(body, dict) else None
        if not isinstance(access, str) or not access:
            raise LabelStudioResponseError(
                f"POST /api/token/refresh/: no access token in {body!r:.200}"
            )
        expires = _jwt_part(access.split(".")[1]).get("exp") if access.count(".") == 2 else None
        self._access = access
        self._access_expires = (
            float(expires) if isinstance(expires, int | float) else time.time() + ACCESS_LIFETIME
        )

    # -- endpoints ------------------------------------------------------------------------
    def projects(self, **filters: Any) -> list[dict[str, Any]]:
        """Every project matching `filters` (e.g. title=..., a case-insensitive substring)."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.get("/api/projects", page=page, page_size=100, **filters)
            results = expect(body, dict, "GET /api/projects").get("results")
            out.extend(expect(results, list, "GET /api/projects results"))
            if not body.get("next"):
                return out
            page += 1

    def project(self, project_id: int) -> dict[str, Any]:
        return expect(self.get(f"/api/projects/{project_id}"), dict, "GET /api/projects/{id}")

    def iter_tasks(
        self, project_id: int, *, full: bool
    ) -> Iterator[tuple[list[dict[str, Any]], int]]:
        """A project's tasks page by page, each with the project's task total; `full` adds
        annotations, predictions and drafts."""
        page, seen = 1, 0
        params: dict[str, Any] = {"project": project_id, "page_size": self.config.page_size}
        params["resolve_uri"] = "false"
        if full:
            params["fields"] = "all"
        while True:
            where = f"GET /api/tasks?project={project_id}&page={page}"
            body = expect(self.get("/api/tasks", page=page, **params), dict, where)
            tasks = expect(body.get("tasks"), list, f"{where} tasks")
            total = body.get("total")
            if not isinstance(total, int):
                raise LabelStudioResponseError(f"{where}: no task total in the answer")
            seen += len(tasks)
            yield [expect(t, dict, f"{where} task") for t in tasks], total
            if not tasks or seen >= total:
                return
            page += 1

    def delete_tasks(self, project_id: int, task_ids: list[int]) -> None:
        """Delete tasks in bulk (the Data Manager's action): deleting a gone task is a no-op."""
        for start in range(0, len(task_ids), 1000):
            self.post(
                "/api/dm/actions",
                {"selectedItems": {"all": False, "included": task_ids[start : start + 1000]}},
                idempotent=True,
                id="delete_tasks",
                project=project_id,
            )


def create_once[T](
    client: LabelStudioClient, look: Callable[[], T | None], make: Callable[[], T]
) -> T:
    """What `look()` finds, else what `make()` creates; see remote.http.create_once."""
    return http.create_once(client, look, make)


def expect[T](value: Any, kind: type[T], where: str) -> T:
    """`value` if it is a `kind`, else a LabelStudioResponseError saying what came instead."""
    return http.expect(value, kind, where, LabelStudioResponseError)


__all__ = [
    "LabelStudioAuthError",
    "LabelStudioClient",
    "LabelStudioError",
    "LabelStudioRequestError",
    "LabelStudioResponseError",
    "LabelStudioUnavailable",
    "OutcomeUnknown",
    "create_once",
    "expect",
    "is_jwt",
]
