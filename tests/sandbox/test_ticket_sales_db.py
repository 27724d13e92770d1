"""The till's ticket_sales rows: the platform's orders, with exactly the planted differences."""

from __future__ import annotations

from decimal import Decimal

import pytest

from include.sandbox.ticket_sales_db import TILL_STATUS, TicketSalesPlan, events, ticket_sales
from include.sandbox.ticketing import EVENTS, EXPONENTS, UNKNOWN_EVENT, TicketingScenario

PLATFORM = TicketingScenario(seed=5, count=40)


def refunded_order() -> str:
    return next(sale["id"] for sale in PLATFORM.sales() if sale["status"] == "refunded")


def test_without_a_plan_the_till_holds_each_order_once_as_the_platform_has_it() -> None:
    rows = list(ticket_sales(PLATFORM, TicketSalesPlan()))

    assert [row.order_ref for row in rows] == [sale["id"] for sale in PLATFORM.sales()]
    assert [row.amount for row in rows] == [PLATFORM.amount(i) for i in range(PLATFORM.count)]
    assert [row.status for row in rows] == [TILL_STATUS[sale["status"]] for sale in PLATFORM.sales()]
    assert len({row.sale_id for row in rows}) == len(rows)


def test_each_planted_difference_touches_only_its_order() -> None:
    unbooked = refunded_order()
    plan = TicketSalesPlan(
        missing=frozenset({"sale_00000010"}),
        amount_changed=frozenset({"sale_00000011"}),
        refund_not_booked=frozenset({unbooked}),
        repeated=frozenset({"sale_00000012"}),
    )
    clean = {row.order_ref: row for row in ticket_sales(PLATFORM, TicketSalesPlan())}

    rows = list(ticket_sales(PLATFORM, plan))
    by_order = {row.order_ref: row for row in rows}

    assert len(rows) == PLATFORM.count
    assert "sale_00000010" not in by_order
    changed = by_order["sale_00000011"]
    step = Decimal(1).scaleb(-EXPONENTS[changed.currency])  # one minor unit
    assert changed.amount == clean["sale_00000011"].amount + step
    assert by_order[unbooked].status == "sold" and clean[unbooked].status == "refunded"
    repeated = [row for row in rows if row.order_ref == "sale_00000012"]
    assert len(repeated) == 2 and repeated[0].sale_id != repeated[1].sale_id
    assert (repeated[1].sold_at - repeated[0].sold_at).total_seconds() == 60
    # Row ids are the till's own numbering, so they shift; everything else differs only where planted.
    differing = {
        ref for ref, row in by_order.items() if row._replace(sale_id="") != clean[ref]._replace(sale_id="")
    }
    assert differing == {"sale_00000011", unbooked, "sale_00000012"}  # by_order holds the repeat's 2nd row


def test_a_refund_cannot_be_planted_on_an_order_that_was_not_refunded() -> None:
    paid = next(sale["id"] for sale in PLATFORM.sales() if sale["status"] == "paid")

    with pytest.raises(ValueError, match="not refunded"):
        list(ticket_sales(PLATFORM, TicketSalesPlan(refund_not_booked=frozenset({paid}))))


def test_the_catalogue_lists_every_event_with_the_tickets_its_orders_add_up_to() -> None:
    tallies = {event.event_id: event.tickets_sold for event in events(PLATFORM, TicketSalesPlan())}
    quantities: dict[str, int] = {}
    for sale in PLATFORM.sales():
        quantities[sale["event"]["id"]] = quantities.get(sale["event"]["id"], 0) + sale["quantity"]

    assert list(tallies) == [event_id for event_id, _name in EVENTS]
    assert tallies == {event_id: quantities.get(event_id, 0) for event_id in tallies}


def test_a_miscounted_tally_is_one_ticket_high_and_an_unlisted_events_order_counts_nowhere() -> None:
    orphaned = TicketingScenario(seed=5, count=40, flaws=((10, "unknown_event"),))
    lost_event, lost_quantity = PLATFORM.sale(10)["event"]["id"], PLATFORM.sale(10)["quantity"]
    miscounted = next(event_id for event_id, _name in EVENTS if event_id != lost_event)
    clean = {event.event_id: event.tickets_sold for event in events(PLATFORM, TicketSalesPlan())}

    rows = events(orphaned, TicketSalesPlan(miscounted=frozenset({miscounted})))

    assert UNKNOWN_EVENT["id"] not in {event.event_id for event in rows}
    differences = {event.event_id: event.tickets_sold - clean[event.event_id] for event in rows}
    assert {event_id: change for event_id, change in differences.items() if change} == {
        lost_event: -lost_quantity,
        miscounted: 1,
    }


def test_only_a_listed_event_can_be_miscounted() -> None:
    with pytest.raises(ValueError, match="no such event") as raised:
        events(PLATFORM, TicketSalesPlan(miscounted=frozenset({UNKNOWN_EVENT["id"]})))

    assert UNKNOWN_EVENT["id"] in str(raised.value)
