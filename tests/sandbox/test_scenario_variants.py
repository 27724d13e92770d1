"""The scenario variants for real-data cases plant what they say, and leave the shipped scenarios as they
were: ``ticket_orders.NegativeSales`` (a few negative sales, a till copy that differs) and
``mobile_money.QuietNight`` (a night window with nothing of its own).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from decimal import Decimal

from include.sandbox.ticket_sales_db import ticket_sales
from include.sandbox.ticketing import EXPONENTS, TicketingScenario
from include.scenarios.mobile_money import STRAGGLER_AMOUNT, WINDOW, QuietNight
from include.scenarios.mobile_money import Scenario as MobileMoney
from include.scenarios.ticket_orders import NEGATIVE_ORDERS, NEGATIVE_SALES, NegativeSales
from include.scenarios.ticket_orders import Scenario as TicketOrders

DAY = dt.date(2026, 11, 19)


def test_negative_sales_are_under_one_percent_and_negative_on_both_sides() -> None:
    scenario = NegativeSales(seed=5, day=DAY)
    assert len(scenario.negative) == NEGATIVE_SALES
    assert NEGATIVE_SALES * 100 < NEGATIVE_ORDERS  # under 1 % of the orders
    negative_orders = [
        s["id"] for s in scenario.platform.sales() if scenario.platform.amount(int(s["id"][5:])) < 0
    ]
    assert negative_orders == scenario.negative
    till = list(ticket_sales(scenario.platform, scenario.plan))
    assert sorted(row.order_ref for row in till if row.amount < 0) == scenario.negative
    # None of them carries another planted difference or flaw: they match, and only the rule sees them.
    plan = dataclasses.astuple(dataclasses.replace(scenario.plan, miscounted=frozenset()))
    planted = {order for orders in plan for order in orders} | set(scenario.flawed.values())
    assert planted.isdisjoint(scenario.negative)
    assert scenario.expected_integrity()["amount_not_negative"] == (NEGATIVE_SALES, scenario.negative)


def test_the_till_s_changed_copy_is_one_minor_unit_off_the_row_it_repeats() -> None:
    scenario = NegativeSales(seed=5, day=DAY)
    (copied,) = scenario.plan.repeated_changed
    rows = [row for row in ticket_sales(scenario.platform, scenario.plan) if row.order_ref == copied]
    first, again = rows
    assert again.amount - first.amount == Decimal(1).scaleb(-EXPONENTS[first.currency])
    assert again.sold_at - first.sold_at == dt.timedelta(minutes=1)
    assert again.sale_id != first.sale_id and again.sold_at.date() == DAY
    assert scenario.expected_breaks()["missing", "platform"] == 1
    assert scenario.expected_breaks()["duplicate", "platform"] == 1  # the plain repeat stays one


def test_the_shipped_ticket_orders_scenario_plants_no_negative_sale_and_no_changed_copy() -> None:
    scenario = TicketOrders(seed=5, day=DAY)
    assert scenario.negative == [] and scenario.plan.repeated_changed == frozenset()
    assert all(scenario.platform.amount(i) > 0 for i in range(5, scenario.orders))
    assert ("missing", "platform") not in scenario.expected_breaks()
    assert "amount_not_negative" not in scenario.expected_integrity()


def test_a_negative_total_keeps_its_form_text_or_number() -> None:
    clean = TicketingScenario(seed=3, count=10)
    flawed = dataclasses.replace(clean, flaws=((4, "negative_total"), (6, "negative_total")))
    for index in (4, 6):
        before, after = clean.sale(index)["total"]["value"], flawed.sale(index)["total"]["value"]
        assert type(before) is type(after)
        assert flawed.amount(index) == -clean.amount(index)


def test_a_quiet_night_has_nothing_in_its_second_window_but_the_straggler_to_carry() -> None:
    night = QuietNight(seed=5, day=DAY)
    assert [night.w1, night.w2] == [dt.datetime(2026, 11, 19, 2, tzinfo=dt.UTC), night.w1 + WINDOW]
    assert night.logical_dates() == [night.w2, night.w2 + WINDOW, night.w2 + 2 * WINDOW]
    assert all(night.w1 <= p.created_at < night.w2 for p in night.payments)
    assert all(s.updated_at < night.w2 for s in night.sessions) and night.late_sessions == []
    assert night.callbacks == [] and all(s.status == "paid" for s in night.sessions)
    with_session = {s.provider_payment_id for s in night.sessions}
    assert [p.id for p in night.payments if p.id not in with_session] == [night.straggler.id]
    # Pending at W1's end (its settlement window is the last 10 minutes), a few shillings.
    assert night.straggler.created_at >= night.w2 - dt.timedelta(minutes=10)
    assert night.straggler.amount == STRAGGLER_AMOUNT
    missing = collections.Counter({("missing", "sessions"): 1})
    assert night.expected_breaks_by_run() == [collections.Counter(), missing, missing]


def test_the_shipped_mobile_money_scenario_is_unchanged_by_the_quiet_night() -> None:
    day = MobileMoney(seed=11, day=DAY)
    assert day.w1 == dt.datetime(2026, 11, 19, 10, tzinfo=dt.UTC)
    assert len(day.payments) == 2 * 6 + 11 and len(day.late_sessions) == 1 and len(day.callbacks) == 1
    assert day.expected_breaks() == collections.Counter(
        {("missing", "sessions"): 2, ("missing", "payments"): 1}
    )
