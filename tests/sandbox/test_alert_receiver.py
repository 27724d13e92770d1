"""The alert receiver, fed through the real Airflow Slack and HTTP hooks and through raw HTTP."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from include.sandbox.alert_receiver import AlertReceiver

pytestmark = pytest.mark.integration  # real servers on loopback


ROUTING_KEY = "R0UT1NGKEYSANDBOX0000000000000000"


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[AlertReceiver]:
    with AlertReceiver(tmp_path / "state" / "alerts.jsonl") as running:
        yield running


def _post(
    receiver: AlertReceiver, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, str]:
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    request = urllib.request.Request(
        receiver.base_url + path,
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def _set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def _trigger_event(**overrides: Any) -> dict[str, Any]:
    event = {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "payload": {"summary": "3 breaks", "severity": "error", "source": "recon"},
    }
    event.update(overrides)
    return event


# --- Slack ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url_in_password", [False, True], ids=["host_plus_token", "full_url_password"])
def test_slack_webhook_hook_posts_here(
    receiver: AlertReceiver, monkeypatch: pytest.MonkeyPatch, url_in_password: bool
) -> None:
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    token = "T0000SANDBOX/B0000SANDBOX/xxxxxxxxxxxxxxxxxxxxxxxx"
    if url_in_password:
        conn = {"conn_type": "slackwebhook", "password": f"{receiver.base_url}/services/{token}"}
    else:
        conn = {"conn_type": "slackwebhook", "host": f"{receiver.base_url}/services", "password": token}
    _set_connection(monkeypatch, "recon_slack_sandbox", conn)

    hook = SlackWebhookHook(slack_webhook_conn_id="recon_slack_sandbox")
    response = hook.send_dict({"text": "recon: 3 breaks", "blocks": [{"type": "divider"}]})

    assert (response.status_code, response.body) == (200, "ok")
    [record] = receiver.received()
    assert record["channel"] == "slack"
    assert record["path"] == f"/services/{token}"
    assert record["body"] == {"text": "recon: 3 breaks", "blocks": [{"type": "divider"}]}


def test_slack_hook_reports_no_text(receiver: AlertReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    conn = {"conn_type": "slackwebhook", "host": f"{receiver.base_url}/services", "password": "T/B/x"}
    _set_connection(monkeypatch, "recon_slack_sandbox", conn)
    with pytest.raises(Exception, match="no_text"):
        SlackWebhookHook(slack_webhook_conn_id="recon_slack_sandbox").send_dict({"attachments": []})
    assert receiver.received()[0]["body"] == {"attachments": []}


def test_slack_raw_responses(receiver: AlertReceiver) -> None:
    assert _post(receiver, "/slack/alerts", {"text": "hi"}) == (200, "ok")
    assert _post(receiver, "/slack/alerts", {"blocks": [{"type": "divider"}]}) == (200, "ok")
    assert _post(receiver, "/services/T/B/x", {"username": "recon"}) == (400, "no_text")
    assert _post(receiver, "/services/T/B/x", "not json") == (400, "invalid_payload")
    assert [r["channel"] for r in receiver.received()] == ["slack"] * 4
    assert receiver.received()[-1]["body"] == "not json"


def test_slack_form_encoded_payload(receiver: AlertReceiver) -> None:
    request = urllib.request.Request(
        receiver.base_url + "/services/T/B/x",
        data=b"payload=%7B%22text%22%3A%22hi%22%7D",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.read() == b"ok"
    assert receiver.received()[0]["body"] == {"text": "hi"}


# --- PagerDuty -----------------------------------------------------------------------------------


def test_pagerduty_event_through_the_http_hook(
    receiver: AlertReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The PagerDuty provider's hooks cannot be pointed here (see README); an "http" connection can.
    from airflow.providers.http.hooks.http import HttpHook
    from airflow.providers.pagerduty.hooks.pagerduty_events import prepare_event_data

    conn = {"conn_type": "http", "host": receiver.base_url, "password": ROUTING_KEY}
    _set_connection(monkeypatch, "recon_pagerduty_sandbox", conn)
    hook = HttpHook(method="POST", http_conn_id="recon_pagerduty_sandbox")
    event = {
        "routing_key": hook.get_connection("recon_pagerduty_sandbox").password,
        **prepare_event_data(
            summary="recon stripe_billing: 12 breaks",
            severity="error",
            source="recon",
            dedup_key="recon/stripe_billing/2026-11-19",
            custom_details={"breaks": 12},
            action_key_name="event_action",
        ),
    }

    response = hook.run("v2/enqueue", json=event)

    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "recon/stripe_billing/2026-11-19",
    }
    [record] = receiver.received()
    assert (record["channel"], record["path"]) == ("pagerduty", "/v2/enqueue")
    assert record["body"] == event
    assert record["body"]["routing_key"] == ROUTING_KEY


def test_pagerduty_library_refuses_a_plain_http_base_url(receiver: AlertReceiver) -> None:
    # Why the HTTP hook is used: python-pagerduty (behind PagerdutyEventsHook) only accepts https.
    import pagerduty

    with pytest.raises(pagerduty.UrlError):
        pagerduty.EventsApiV2Client(ROUTING_KEY, base_url=receiver.base_url)


def test_pagerduty_generates_a_dedup_key(receiver: AlertReceiver) -> None:
    status, text = _post(receiver, "/v2/enqueue", _trigger_event())
    assert status == 202
    assert json.loads(text)["dedup_key"]


def test_pagerduty_path_may_have_a_prefix(receiver: AlertReceiver) -> None:
    status, _ = _post(receiver, "/pagerduty/v2/enqueue", _trigger_event(dedup_key="k"))
    assert status == 202
    assert receiver.received()[0]["channel"] == "pagerduty"


@pytest.mark.parametrize(
    ("event", "mentions"),
    [
        (_trigger_event(routing_key=""), "routing_key"),
        ({k: v for k, v in _trigger_event().items() if k != "event_action"}, "event_action"),
        (_trigger_event(payload={"severity": "error", "source": "recon"}), "summary"),
        (_trigger_event(payload={"summary": "s", "source": "recon"}), "severity"),
        (_trigger_event(payload={"summary": "s", "severity": "loud", "source": "recon"}), "severity"),
        (_trigger_event(payload={"summary": "s", "severity": "error"}), "source"),
        (_trigger_event(event_action="resolve"), "dedup_key"),
        ("[]", "invalid"),
    ],
)
def test_pagerduty_rejects_invalid_events(receiver: AlertReceiver, event: Any, mentions: str) -> None:
    status, text = _post(receiver, "/v2/enqueue", event)
    body = json.loads(text)
    assert status == 400
    assert body["status"] == "invalid event"
    assert mentions in body["message"]
    assert receiver.received()[0]["channel"] == "pagerduty"  # rejected events are still recorded


def test_pagerduty_resolve_needs_no_payload(receiver: AlertReceiver) -> None:
    event = {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "k"}
    status, text = _post(receiver, "/v2/enqueue", event)
    assert (status, json.loads(text)["dedup_key"]) == (202, "k")


# --- storage -------------------------------------------------------------------------------------


def test_headers_are_never_stored(receiver: AlertReceiver) -> None:
    _post(receiver, "/slack/x", {"text": "hi"}, headers={"Authorization": "Bearer s3cr3t-header-value"})
    assert "s3cr3t-header-value" not in receiver.store.read_text(encoding="utf-8")
    assert set(receiver.received()[0]) == {"received_at", "path", "channel", "body", "status"}


def test_unknown_paths_are_recorded(receiver: AlertReceiver) -> None:
    assert _post(receiver, "/somewhere/else?x=1", {"a": 1}) == (200, "ok")
    [record] = receiver.received()
    assert (record["channel"], record["path"], record["body"]) == ("unknown", "/somewhere/else", {"a": 1})


def test_concurrent_posts_keep_lines_whole(receiver: AlertReceiver) -> None:
    def send(index: int) -> None:
        _post(receiver, "/slack/load", {"text": f"message {index}", "padding": "x" * 4000})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    texts = sorted(r["body"]["text"] for r in receiver.received())
    assert texts == sorted(f"message {i}" for i in range(24))


def test_store_survives_a_restart(tmp_path: Path) -> None:
    store = tmp_path / "deep" / "dir" / "alerts.jsonl"
    with AlertReceiver(store) as first:
        _post(first, "/slack/a", {"text": "one"})
    assert AlertReceiver(store).received()[0]["body"] == {"text": "one"}
    with AlertReceiver(store) as second:
        _post(second, "/slack/a", {"text": "two"})
        assert [r["body"]["text"] for r in second.received()] == ["one", "two"]


# --- faults --------------------------------------------------------------------------------------


def test_fail_next_answers_the_next_posts_as_a_service_in_trouble(receiver: AlertReceiver) -> None:
    receiver.fail_next(429, retry_after=2)
    receiver.fail_next(500)

    limited = httpx.post(f"{receiver.base_url}/services/T/B/x", json={"text": "one"})
    failed = httpx.post(f"{receiver.base_url}/v2/enqueue", json={"routing_key": "r"})
    accepted = _post(receiver, "/services/T/B/x", {"text": "three"})

    assert (limited.status_code, limited.headers["Retry-After"], limited.text) == (429, "2", "rate_limited")
    assert (failed.status_code, failed.json()["status"]) == (500, "error")
    assert accepted == (200, "ok")
    assert [item["status"] for item in receiver.received()] == [429, 500, 200]
