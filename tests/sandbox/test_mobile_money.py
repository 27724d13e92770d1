"""The mobile-money sandbox: its payments API (spoken to with plain httpx) and the sessions table it adds."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from decimal import Decimal

import httpx
import psycopg
import pytest

from include.sandbox.app_db import AppScenario, create_app_database, drop_app_database
from include.sandbox.mobile_money import CheckoutSession, MobileMoneySandbox, Payment, add_checkout_sessions

pytestmark = pytest.mark.integration

TOKEN = "mm_sandbox_test_token"
TEN = dt.datetime(2026, 11, 19, 10, tzinfo=dt.UTC)


def payment(number: int, updated_minute: int, created_minute: int | None = None) -> Payment:
    created = TEN + dt.timedelta(minutes=updated_minute if created_minute is None else created_minute)
    return Payment(
        id=f"MMP{number:010d}",
        status="completed",
        created_at=created,
        updated_at=TEN + dt.timedelta(minutes=updated_minute),
        amount=Decimal("1250.05"),
        currency="KES",
        msisdn="+254700000001",
    )


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    payments = [payment(n, minute) for n, minute in enumerate([0, 5, 14, 15, 20, 29])]
    payments.append(payment(6, 16, created_minute=-40))  # created long before, changed in the window
    with (
        MobileMoneySandbox(payments, token=TOKEN) as sandbox,
        httpx.Client(base_url=sandbox.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as client,
    ):
        yield client


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["payments"]]


def test_payments_are_listed_by_last_change_in_a_half_open_window(api: httpx.Client) -> None:
    window = {"updated_from": "2026-11-19T10:15:00Z", "updated_to": "2026-11-19T10:30:00Z"}

    listed = api.get("/v1/payments", params=window)

    assert ids(listed) == ["MMP0000000003", "MMP0000000006", "MMP0000000004", "MMP0000000005"]
    old = listed.json()["payments"][1]
    assert old["created_at"] == "2026-11-19T09:20:00Z" and old["updated_at"] == "2026-11-19T10:16:00Z"
    assert old["amount"] == {"value": "1250.05", "currency": "KES"}, "amounts are exact decimal text"


def test_pages_run_from_one_and_a_short_page_is_the_last(api: httpx.Client) -> None:
    pages = [api.get("/v1/payments", params={"page": page, "page_size": 3}) for page in (1, 2, 3)]

    assert [len(ids(page)) for page in pages] == [3, 3, 1]
    assert sorted(sum((ids(page) for page in pages), [])) == [f"MMP{n:010d}" for n in range(7)]


@pytest.mark.parametrize(
    ("headers", "params", "status"),
    [
        ({"Authorization": "Bearer wrong"}, {}, 401),
        ({}, {"since": "2026-11-19T10:00:00Z"}, 400),
        ({}, {"updated_from": "2026-11-19T10:00:00"}, 400),  # no offset
        ({}, {"page": "0"}, 400),
    ],
)
def test_a_wrong_token_or_parameter_is_refused(
    api: httpx.Client, headers: dict, params: dict, status: int
) -> None:
    response = api.get("/v1/payments", params=params, headers=headers)

    assert response.status_code == status
    assert response.json()["error"]["code"] == status


def test_checkout_sessions_are_added_to_the_app_database_beside_its_own_tables(
    warehouse_server_url: str,
) -> None:
    name = f"recon_app_mm_{os.getpid()}"
    url = create_app_database(warehouse_server_url, name, AppScenario(seed=1, day=TEN.date(), payments=2))
    try:
        session = CheckoutSession("cs_1", "MMP0000000001", Decimal("1250.05"), "KES", "paid", TEN)
        assert add_checkout_sessions(url, [session]) == 1
        with psycopg.connect(url) as conn:
            rows = conn.execute("select * from checkout_sessions").fetchall()
            payments = conn.execute("select count(*) from payments").fetchone()
    finally:
        drop_app_database(warehouse_server_url, name)

    assert rows == [("cs_1", "MMP0000000001", Decimal("1250.05"), "KES", "paid", TEN, TEN, None)]
    assert payments == (2 + 4,), "the app database's own tables are untouched (window and neighbour rows)"
