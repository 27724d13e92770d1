"""A small client of Airflow's public REST API (``/api/v2``, Airflow 3): tokens, triggering and watching runs.

``recon run`` uses it to run windows through a real Airflow (scheduler, workers, logs in the UI) instead
of in-process. It is configured from the environment, read when called:

- ``RECON_AIRFLOW_URL``: the API server's base URL, e.g. ``http://localhost:8080``;
- ``RECON_AIRFLOW_TOKEN``: a JWT access token, or else
- ``RECON_AIRFLOW_USER`` and ``RECON_AIRFLOW_PASSWORD``: exchanged for a token at ``POST /auth/token``
  (the route of Airflow's SimpleAuthManager, the one ``make ui`` and the tests run).

Errors are ``AirflowApiError`` naming the URL, the HTTP status and Airflow's ``detail``; never the token
or the password.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

URL_ENV = "RECON_AIRFLOW_URL"
TOKEN_ENV = "RECON_AIRFLOW_TOKEN"
USER_ENV = "RECON_AIRFLOW_USER"
PASSWORD_ENV = "RECON_AIRFLOW_PASSWORD"
# DagRunState's finished states: a run in one of them changes no more unless someone clears it.
TERMINAL_STATES = frozenset({"success", "failed"})


class AirflowApiError(Exception):
    """A call to the Airflow API failed: the URL, the HTTP status (None without an answer) and why."""

    def __init__(self, url: str, status: int | None, detail: str) -> None:
        self.url = url
        self.status = status
        self.detail = detail
        super().__init__(f"Airflow API {url}: " + (f"HTTP {status}: " if status is not None else "") + detail)


class AirflowRunTimeout(AirflowApiError):
    """A DAG run did not finish in time; ``state`` is the last one seen."""

    def __init__(self, url: str, state: str, timeout_seconds: float) -> None:
        self.state = state
        super().__init__(url, None, f"still {state} after {timeout_seconds:g} s")


def get_token(base_url: str, username: str, password: str, timeout: float = 30) -> str:
    """An access token for this user (``POST {base_url}/auth/token``, JSON username and password)."""
    url = f"{base_url.rstrip('/')}/auth/token"
    try:
        response = httpx.post(url, json={"username": username, "password": password}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise _unreachable(url, exc) from exc
    if response.status_code >= 400:
        raise AirflowApiError(url, response.status_code, _detail(response))
    try:
        return str(response.json()["access_token"])
    except (ValueError, KeyError, TypeError):
        raise AirflowApiError(url, response.status_code, "the answer holds no access_token") from None


class AirflowApi:
    """One Airflow API server, reached with one bearer token."""

    def __init__(self, base_url: str, token: str, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=f"{self.base_url}/api/v2",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
        )

    @classmethod
    def from_env(cls) -> AirflowApi | None:
        """The API named by ``RECON_AIRFLOW_*``; None when ``RECON_AIRFLOW_URL`` is not set."""
        url = os.environ.get(URL_ENV)
        if not url:
            return None
        token = os.environ.get(TOKEN_ENV)
        if not token:
            user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
            if not user or not password:
                raise AirflowApiError(
                    url, None, f"{URL_ENV} is set but neither {TOKEN_ENV} nor {USER_ENV} and {PASSWORD_ENV}"
                )
            token = get_token(url, user, password)
        return cls(url, token)

    def __enter__(self) -> AirflowApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def dag(self, dag_id: str) -> dict[str, Any]:
        """The DAG as the API gives it (``is_paused``, ...); HTTP 404 when Airflow does not know it."""
        return self._call("GET", f"/dags/{_q(dag_id)}")

    def trigger(self, dag_id: str, start: datetime, end: datetime, note: str | None = None) -> str:
        """Queue a manual run of the window ``[start, end)``; its ``dag_run_id``.

        The logical date is the window's start, as the scheduler gives a run of a data-interval
        timetable, so a window has one logical date whoever starts it (Airflow refuses a second run
        of the same logical date with HTTP 409).
        """
        body: dict[str, Any] = {
            "logical_date": start.isoformat(),
            "data_interval_start": start.isoformat(),
            "data_interval_end": end.isoformat(),
            "conf": {},
        }
        if note:
            body["note"] = note
        return str(self._call("POST", f"/dags/{_q(dag_id)}/dagRuns", json=body)["dag_run_id"])

    def find_run(self, dag_id: str, logical_date: datetime) -> dict[str, Any] | None:
        """The DAG run of this logical date (its JSON as the API gives it), or None."""
        moment = logical_date.isoformat()
        found = self._call(
            "GET",
            f"/dags/{_q(dag_id)}/dagRuns",
            params={"logical_date_gte": moment, "logical_date_lte": moment, "limit": 1},
        )
        runs = found.get("dag_runs") or []
        return runs[0] if runs else None

    def clear(self, dag_id: str, dag_run_id: str, note: str | None = None) -> None:
        """Clear a finished run, so that the scheduler runs all of it again under the same id."""
        body: dict[str, Any] = {"dry_run": False}
        if note:
            body["note"] = note
        self._call("POST", f"/dags/{_q(dag_id)}/dagRuns/{_q(dag_run_id)}/clear", json=body)

    def dag_run(self, dag_id: str, dag_run_id: str) -> dict[str, Any]:
        return self._call("GET", f"/dags/{_q(dag_id)}/dagRuns/{_q(dag_run_id)}")

    def run_state(self, dag_id: str, dag_run_id: str) -> str:
        return str(self.dag_run(dag_id, dag_run_id)["state"])

    def wait(self, dag_id: str, dag_run_id: str, timeout_seconds: float, poll_seconds: float = 5) -> str:
        """Poll the run until it is ``success`` or ``failed``; ``AirflowRunTimeout`` after the timeout."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            state = self.run_state(dag_id, dag_run_id)
            if state in TERMINAL_STATES:
                return state
            if time.monotonic() + poll_seconds > deadline:
                url = f"{self.base_url}/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(dag_run_id)}"
                raise AirflowRunTimeout(url, state, timeout_seconds)
            time.sleep(poll_seconds)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        url = f"{self.base_url}/api/v2{path}"
        try:
            response = self._client.request(method, path.lstrip("/"), **kwargs)
        except httpx.HTTPError as exc:
            raise _unreachable(url, exc) from exc
        if response.status_code >= 400:
            raise AirflowApiError(url, response.status_code, _detail(response))
        return response.json() if response.content else {}


def _unreachable(url: str, exc: httpx.HTTPError) -> AirflowApiError:
    return AirflowApiError(url, None, f"cannot reach the API server ({type(exc).__name__}: {exc})")


def _q(part: str) -> str:
    """One path segment: run ids hold ``:`` and ``+``, which must not be read as URL syntax."""
    return quote(part, safe="")


def _detail(response: httpx.Response) -> str:
    """Airflow's ``detail`` (a string, or FastAPI's list of validation errors), else the body's start."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg')}"
            if isinstance(item, dict)
            else str(item)
            for item in detail
        )
    if detail:
        return str(detail)
    return response.text[:300] or response.reason_phrase
