"""Seedable data for the "Stripe billing" reconciliation: Stripe charges vs the app's nightly CSV.

Everything is derived from one ``random.Random`` seeded by the scenario, so the same scenario gives the
same charges and a byte-identical CSV on every machine. The injected discrepancies are decided up front
and ``injected_breaks`` reports them, so tests can compare a pipeline's findings against the truth.

Shape of a scenario (``s``) for a day ``D``, window ``[D 00:00, D+1 00:00)`` UTC:

* ``s.charge_count`` Stripe charges are created inside the window. One is exactly at ``D 00:00:00``
  (inside, half-open window) and one at ``D 23:59:59``; both are clean matches.
* ``s.missing_internally`` of those charges have no CSV row.
* ``s.amount_mismatches`` rows differ from Stripe by clearly more than 0.01 major units.
* ``s.within_tolerance`` rows differ by exactly 0.01 major units; a 0.01 tolerance must match them.
* ``s.negative_amounts`` rows carry the negated Stripe amount. They are not among the injected breaks:
  the default ``amount_not_negative`` rule (critical, on_fail: mark) reports them and pages, and the
  matching finds each an amount mismatch.
* ``s.missing_in_stripe`` extra CSV rows reference well-formed charge ids that Stripe never issued.
* ``s.neighbour_day_charges`` Stripe-only charges fall just outside the window (several exactly at
  ``D+1 00:00:00``, several at ``D-1 23:59:59``); a window-filtered extract must ignore them.

The cases below are off unless asked for (``billing_example`` asks for all of them), so the data other
scenarios and tests derive from a plain ``BillingScenario`` stays what it was. They take clean charges,
never the edge charges nor the same-second pair, and draw nothing from the generator, so turning them
on changes only the rows they touch:

* ``s.duplicate_rows`` CSV rows are written twice: the repeat is a ``duplicate`` (missing in Stripe:
  nothing there pairs with the extra copy).
* ``s.near_duplicates`` charges get a second CSV row two minutes later with the same email, amount and
  currency, a new payment id and a charge id Stripe never issued: a ``near_duplicate``.
* ``s.pending_charges`` charges are moved into the day's last hour and left out of the export: the app
  has not exported them yet. A spec with a settlement window is expected to call them ``pending``, not
  a break; ``injected_pending`` lists them.
* ``s.currency_mismatches`` USD charges are exported as EUR (same amount): a ``currency_mismatch``.
* ``s.refunded_charges`` charges are fully refunded in Stripe (``refunded: true``, ``amount_refunded`` =
  ``amount``, status still ``succeeded`` as Stripe leaves it) but exported as ``succeeded``: a
  ``status_mismatch``.
* ``s.late_records`` rows are exported with ``created_at`` three hours after the charge: ``late``.
* ``s.settlement_window_seconds``: when set, records missing on one side are kept out of the window's
  last that many seconds, so a spec with that settlement window reports them ``missing``, not pending.

CSV currencies are lower-case ISO codes, exactly as Stripe spells them.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

CSV_COLUMNS: tuple[str, ...] = (
    "payment_id",
    "stripe_charge_id",
    "amount",
    "currency",
    "created_at",
    "status",
    "customer_email",
)

# Minor-unit exponents, as Stripe defines them: jpy is zero-decimal, kwd three-decimal.
CURRENCY_EXPONENTS: dict[str, int] = {"usd": 2, "eur": 2, "jpy": 0, "kwd": 3}

# Weights for the random mix; the single kwd charge is placed separately.
_CURRENCY_WEIGHTS: tuple[tuple[str, int], ...] = (("usd", 55), ("eur", 33), ("jpy", 12))

_ID_ALPHABET = string.ascii_letters + string.digits
_DAY_SECONDS = 86_400
_HOUR = 3_600
_NEAR_DUPLICATE_AFTER = 120  # seconds between a payment and its near-duplicate
_LATE_BY = 3 * _HOUR  # how much later the app records a late payment

# The optional cases, in the order they take clean charges (part of the output contract).
_EXTRA_CASES: tuple[str, ...] = (
    "duplicate_rows",
    "near_duplicates",
    "pending_charges",
    "currency_mismatches",
    "refunded_charges",
    "late_records",
)

# fmt: off
_FIRST_NAMES = (
    "ada", "alan", "grace", "edsger", "barbara", "donald", "margaret", "dennis", "frances", "john",
    "katherine", "ken", "radia", "tim", "hedy", "claude", "sophie", "linus", "annie", "niklaus",
)
_LAST_NAMES = (
    "lovelace", "turing", "hopper", "dijkstra", "liskov", "knuth", "hamilton", "ritchie", "allen",
    "backus", "johnson", "thompson", "perlman", "berners-lee", "lamarr", "shannon", "wilson", "torvalds",
    "easley", "wirth",
)
# fmt: on
_DESCRIPTIONS = ("Subscription renewal", "Pro plan upgrade", "Seat top-up", "Annual plan", "Usage overage")


@dataclass(frozen=True)
class InjectedBreak:
    """One discrepancy the generator planted; ``record_key`` is the Stripe charge id on both sides."""

    record_key: str
    # "missing" | "amount_mismatch" | "duplicate" | "near_duplicate" | "currency_mismatch"
    # | "status_mismatch" | "late"
    break_class: str
    # The source the record has no counterpart in, for a record left alone ("missing", "duplicate",
    # "near_duplicate": "stripe" or "internal"); None for a matched pair that differs.
    missing_in: str | None


@dataclass(frozen=True)
class BillingScenario:
    """Parameters for one day of generated billing data; see the module docstring for their meaning."""

    seed: int
    day: dt.date
    charge_count: int = 200
    missing_in_stripe: int = 3
    missing_internally: int = 4
    amount_mismatches: int = 5
    within_tolerance: int = 2
    neighbour_day_charges: int = 6
    negative_amounts: int = 0
    duplicate_rows: int = 0
    near_duplicates: int = 0
    pending_charges: int = 0
    currency_mismatches: int = 0
    refunded_charges: int = 0
    late_records: int = 0
    settlement_window_seconds: int = 0

    def __post_init__(self) -> None:
        counts = {
            "charge_count": self.charge_count,
            "missing_in_stripe": self.missing_in_stripe,
            "missing_internally": self.missing_internally,
            "amount_mismatches": self.amount_mismatches,
            "within_tolerance": self.within_tolerance,
            "neighbour_day_charges": self.neighbour_day_charges,
            "negative_amounts": self.negative_amounts,
            **{name: getattr(self, name) for name in _EXTRA_CASES},
            "settlement_window_seconds": self.settlement_window_seconds,
        }
        negative = [name for name, value in counts.items() if value < 0]
        if negative:
            raise ValueError(f"counts must not be negative: {', '.join(negative)}")
        if self.charge_count < 1:
            raise ValueError("charge_count must be at least 1")
        altered = self.missing_internally + self.amount_mismatches + self.within_tolerance
        altered += self.negative_amounts + sum(getattr(self, name) for name in _EXTRA_CASES)
        if altered > self.charge_count - _edge_count(self.charge_count):
            raise ValueError(
                f"{altered} altered charges do not fit in {self.charge_count} charges "
                f"({_edge_count(self.charge_count)} edge charges are kept clean)"
            )
        if self.pending_charges and self.settlement_window_seconds < _HOUR:
            raise ValueError(
                "pending charges sit in the last hour: settlement_window_seconds must be >= 3600"
            )
        if self.settlement_window_seconds > _DAY_SECONDS // 2:
            raise ValueError("settlement_window_seconds must leave half the day for missing records")

    @property
    def expected_row_count(self) -> int:
        """Rows the CSV for this scenario holds."""
        exported = self.charge_count - self.missing_internally - self.pending_charges + self.missing_in_stripe
        return exported + self.duplicate_rows + self.near_duplicates


def billing_example(seed: int, day: dt.date) -> BillingScenario:
    """The data of the ``stripe_billing`` example spec: every kind of break it reports, and pending
    charges inside its two-hour settlement window."""
    return BillingScenario(
        seed=seed,
        day=day,
        duplicate_rows=1,
        near_duplicates=1,
        pending_charges=2,
        currency_mismatches=1,
        refunded_charges=1,
        late_records=1,
        settlement_window_seconds=2 * _HOUR,
    )


@dataclass(frozen=True)
class _Payment:
    """One payment as both systems could know it; ``internal_amount`` is None when the app lacks it."""

    payment_id: str
    charge_id: str
    currency: str
    created: int
    email: str
    description: str
    stripe_amount: int | None  # None: Stripe never saw it
    internal_amount: int | None  # None: no CSV row
    internal_currency: str | None = None  # None: as Stripe's
    internal_delay: int = 0  # seconds the app recorded it after Stripe created it
    refunded: bool = False  # fully refunded in Stripe
    exported_twice: bool = False


@dataclass(frozen=True)
class _Plan:
    in_window: tuple[_Payment, ...]
    neighbours: tuple[_Payment, ...]
    phantoms: tuple[_Payment, ...]  # CSV rows whose charge Stripe never issued
    breaks: frozenset[InjectedBreak]
    pending: frozenset[str]  # charge ids a settlement window keeps pending


def window_bounds(day: dt.date) -> tuple[int, int]:
    """Epoch seconds ``(start, end)`` of the half-open UTC window ``[day 00:00, day+1 00:00)``."""
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
    return start, start + _DAY_SECONDS


def currency_exponent(currency: str) -> int:
    return CURRENCY_EXPONENTS[currency.lower()]


def format_amount(minor: int, currency: str) -> str:
    """Minor units to a major-unit decimal string with exactly the currency's exponent digits."""
    exponent = currency_exponent(currency)
    major = Decimal(minor).scaleb(-exponent)
    return f"{major:.{exponent}f}"


def payments_file_name(day: dt.date) -> str:
    return f"payments_{day.isoformat()}.csv"


def stripe_charges(s: BillingScenario) -> list[dict]:
    """All Stripe charges of the scenario (window and neighbour days), in creation order."""
    plan = _plan(s)
    payments = [p for p in plan.in_window + plan.neighbours if p.stripe_amount is not None]
    payments.sort(key=lambda p: (p.created, p.charge_id))
    return [_charge_object(p) for p in payments]


def payment_rows(s: BillingScenario) -> Iterator[dict[str, str]]:
    """The CSV rows the app exports for ``s.day``, ordered by created_at then payment_id."""
    plan = _plan(s)
    exported = [p for p in plan.in_window + plan.phantoms if p.internal_amount is not None]
    exported.sort(key=lambda p: (p.created + p.internal_delay, p.payment_id))
    for payment in exported:
        yield _csv_row(payment)
        if payment.exported_twice:
            yield _csv_row(payment)  # the app wrote the same payment twice


def write_payments_csv(s: BillingScenario, path: Path) -> int:
    """Write the day's export to ``path`` (parents created) and return the number of data rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in payment_rows(s):
            writer.writerow(row)
            written += 1
    return written


def injected_breaks(s: BillingScenario) -> set[InjectedBreak]:
    """The discrepancies a correct reconciliation must report for ``s`` (negative amounts excluded)."""
    return set(_plan(s).breaks)


def injected_pending(s: BillingScenario) -> set[str]:
    """Charge ids the export does not hold yet, created in the window's last hour: not breaks while a
    settlement window covers them (``pending``)."""
    return set(_plan(s).pending)


# --- planning -------------------------------------------------------------------------------------


def _edge_count(charge_count: int) -> int:
    # The 00:00:00 and 23:59:59 charges stay clean so a window bug shows up as a spurious break.
    return min(2, charge_count)


@functools.lru_cache(maxsize=32)
def _plan(s: BillingScenario) -> _Plan:
    # The draw order below is part of the output contract: reordering it changes every dataset.
    rng = random.Random(f"recon-billing:{s.seed}:{s.day.isoformat()}")
    ids = _IdFactory(rng)
    start, end = window_bounds(s.day)

    roles, spare = _assign_roles(rng, s)
    kwd_index = rng.randrange(s.charge_count)
    times = _window_times(rng, s.charge_count, start, end)
    in_window = []
    for index in range(s.charge_count):
        role = roles.get(index, "clean")
        currency = "kwd" if index == kwd_index else _pick_currency(rng, role)
        amount = _random_amount(rng, currency)
        base = _draw_payment(rng, ids, currency, times[index], amount)
        in_window.append(replace(base, internal_amount=_internal_amount(rng, role, amount, currency)))

    neighbours = []
    for index in range(s.neighbour_day_charges):
        currency = _pick_currency(rng, "clean")
        created = _neighbour_time(rng, index, start, end)
        base = _draw_payment(rng, ids, currency, created, _random_amount(rng, currency))
        neighbours.append(replace(base, internal_amount=None))  # another day's export holds these

    phantoms = []
    for _ in range(s.missing_in_stripe):
        currency = _pick_currency(rng, "clean")
        base = _draw_payment(rng, ids, currency, rng.randrange(start, end), _random_amount(rng, currency))
        phantoms.append(replace(base, stripe_amount=None, created=_before_settlement(s, base.created)))

    breaks = {InjectedBreak(p.charge_id, "missing", "stripe") for p in phantoms}
    for index, role in roles.items():
        if role == "missing_internally":
            payment = in_window[index]
            in_window[index] = replace(payment, created=_before_settlement(s, payment.created))
            breaks.add(InjectedBreak(payment.charge_id, "missing", "internal"))
        elif role == "amount_mismatch":
            breaks.add(InjectedBreak(in_window[index].charge_id, "amount_mismatch", None))

    # The optional cases come last, so they leave every draw above as it was.
    pending: set[str] = set()
    for case, index in _extra_cases(s, spare, kwd_index, in_window):
        payment = in_window[index]
        match case:
            case "duplicate_rows":
                in_window[index] = replace(payment, exported_twice=True)
                breaks.add(InjectedBreak(payment.charge_id, "duplicate", "stripe"))
            case "near_duplicates":
                again = replace(
                    payment,
                    payment_id=ids.payment_id(),
                    charge_id=ids.charge_id(),  # an id Stripe never issued: the app made it up
                    created=payment.created + _NEAR_DUPLICATE_AFTER,
                    stripe_amount=None,
                )
                phantoms.append(again)
                breaks.add(InjectedBreak(again.charge_id, "near_duplicate", "stripe"))
            case "pending_charges":
                last_hour = end - _HOUR + (payment.created - start) % _HOUR
                in_window[index] = replace(payment, created=last_hour, internal_amount=None)
                pending.add(payment.charge_id)
            case "currency_mismatches":
                in_window[index] = replace(payment, internal_currency="eur")
                breaks.add(InjectedBreak(payment.charge_id, "currency_mismatch", None))
            case "refunded_charges":
                in_window[index] = replace(payment, refunded=True)
                breaks.add(InjectedBreak(payment.charge_id, "status_mismatch", None))
            case "late_records":
                in_window[index] = replace(payment, internal_delay=_LATE_BY)
                breaks.add(InjectedBreak(payment.charge_id, "late", None))
    return _Plan(tuple(in_window), tuple(neighbours), tuple(phantoms), frozenset(breaks), frozenset(pending))


def _before_settlement(s: BillingScenario, created: int) -> int:
    """``created``, or, inside the window's last ``s.settlement_window_seconds``, a time before them."""
    start, end = window_bounds(s.day)
    if s.settlement_window_seconds <= 0 or created < end - s.settlement_window_seconds:
        return created
    return start + (created - start) % (_DAY_SECONDS - s.settlement_window_seconds)


def _extra_cases(
    s: BillingScenario, spare: list[int], kwd_index: int, in_window: list[_Payment]
) -> Iterator[tuple[str, int]]:
    """(case, charge index) for each optional case, taken from the clean charges in ``spare``."""
    _, end = window_bounds(s.day)
    settled_by = end - s.settlement_window_seconds
    fits = {
        "duplicate_rows": lambda p: True,
        "near_duplicates": lambda p: p.created + _NEAR_DUPLICATE_AFTER < settled_by,
        "pending_charges": lambda p: True,
        "currency_mismatches": lambda p: p.currency == "usd",
        "refunded_charges": lambda p: True,
        "late_records": lambda p: p.created + _LATE_BY < end,
    }
    # Not the kwd charge (the only one of its currency) nor the same-second pair (indices 2 and 3).
    free = [index for index in spare if index != kwd_index and index >= 4]
    for case in _EXTRA_CASES:
        for _ in range(getattr(s, case)):
            index = next((i for i in free if fits[case](in_window[i])), None)
            if index is None:
                raise ValueError(f"no clean charge left for {case} in {s.charge_count} charges")
            free.remove(index)
            yield case, index


def _draw_payment(rng: random.Random, ids: _IdFactory, currency: str, created: int, amount: int) -> _Payment:
    return _Payment(
        payment_id=ids.payment_id(),
        charge_id=ids.charge_id(),
        currency=currency,
        created=created,
        email=_email(rng),
        description=rng.choice(_DESCRIPTIONS),
        stripe_amount=amount,
        internal_amount=amount,
    )


def _assign_roles(rng: random.Random, s: BillingScenario) -> tuple[dict[int, str], list[int]]:
    candidates = list(range(_edge_count(s.charge_count), s.charge_count))
    rng.shuffle(candidates)
    wanted = (
        ("missing_internally", s.missing_internally),
        ("amount_mismatch", s.amount_mismatches),
        ("within_tolerance", s.within_tolerance),
        ("negative_amount", s.negative_amounts),
    )
    roles: dict[int, str] = {}
    for role, count in wanted:
        for _ in range(count):
            roles[candidates.pop()] = role
    return roles, candidates


def _window_times(rng: random.Random, count: int, start: int, end: int) -> list[int]:
    times = [rng.randrange(start + 1, end - 1) for _ in range(count)]
    times[0] = start  # first second of the window: inside
    if count >= 2:
        times[1] = end - 1  # last second of the window: inside
    if count >= 4:
        times[3] = times[2]  # a same-second pair, so list order needs the id tie-break
    return times


def _neighbour_time(rng: random.Random, index: int, start: int, end: int) -> int:
    match index % 3:
        case 0:
            return end  # next day's 00:00:00: outside the half-open window
        case 1:
            return start - 1  # previous day's 23:59:59
        case _:
            if rng.random() < 0.5:
                return rng.randrange(start - _DAY_SECONDS, start)
            return rng.randrange(end, end + _DAY_SECONDS)


def _pick_currency(rng: random.Random, role: str) -> str:
    # A 0.01 difference cannot be written in a zero-decimal currency, so keep those off jpy.
    weights = _CURRENCY_WEIGHTS
    if role == "within_tolerance":
        weights = tuple(w for w in weights if currency_exponent(w[0]) >= 2)
    currencies, counts = zip(*weights, strict=True)
    return rng.choices(currencies, weights=counts)[0]


def _random_amount(rng: random.Random, currency: str) -> int:
    match currency_exponent(currency):
        case 0:
            return rng.randrange(300, 60_000, 10)
        case 3:
            return rng.randrange(1_000, 200_000, 10)  # Stripe wants three-decimal amounts to end in 0
        case _:
            return rng.randrange(100, 50_000)


def _internal_amount(rng: random.Random, role: str, amount: int, currency: str) -> int | None:
    exponent = currency_exponent(currency)
    one_cent = 10 ** (exponent - 2) if exponent >= 2 else 0
    match role:
        case "missing_internally":
            return None
        case "within_tolerance":
            return amount + rng.choice((-one_cent, one_cent))
        case "negative_amount":
            return -amount
        case "amount_mismatch":
            return _mismatched(rng, amount, exponent)
        case _:
            return amount


def _mismatched(rng: random.Random, amount: int, exponent: int) -> int:
    # 1.00 .. 50.00 major units off (100 .. 5000 for zero-decimal currencies), either direction.
    if exponent == 0:
        delta = rng.randrange(100, 5_001, 100)
    else:
        delta = rng.randrange(100, 5_001) * 10 ** (exponent - 2)
    if rng.random() < 0.5 and amount - delta > 0:
        return amount - delta
    return amount + delta


def _email(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST_NAMES)}.{rng.choice(_LAST_NAMES)}{rng.randrange(1, 100)}@example.com"


class _IdFactory:
    """Draws unique ids from the scenario's generator, so they are reproducible too."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._seen: set[str] = set()

    def charge_id(self) -> str:
        return self._unique("ch_", _ID_ALPHABET, 24)

    def payment_id(self) -> str:
        return self._unique("pay_", string.digits + string.ascii_lowercase, 16)

    def _unique(self, prefix: str, alphabet: str, length: int) -> str:
        while True:
            candidate = prefix + "".join(self._rng.choices(alphabet, k=length))
            if candidate not in self._seen:
                self._seen.add(candidate)
                return candidate


# --- rendering ------------------------------------------------------------------------------------


def _charge_object(p: _Payment) -> dict:
    assert p.stripe_amount is not None
    # A full refund leaves status "succeeded" in Stripe; refunded and amount_refunded say it.
    return {
        "id": p.charge_id,
        "object": "charge",
        "amount": p.stripe_amount,
        "amount_captured": p.stripe_amount,
        "amount_refunded": p.stripe_amount if p.refunded else 0,
        "captured": True,
        "currency": p.currency,
        "created": p.created,
        "description": p.description,
        "livemode": False,
        "paid": True,
        "refunded": p.refunded,
        "receipt_email": p.email,
        "billing_details": {"email": p.email},
        "metadata": {"payment_id": p.payment_id},
        "status": "succeeded",
    }


def _csv_row(p: _Payment) -> dict[str, str]:
    assert p.internal_amount is not None
    created = dt.datetime.fromtimestamp(p.created + p.internal_delay, tz=dt.UTC)
    currency = p.internal_currency or p.currency
    return {
        "payment_id": p.payment_id,
        "stripe_charge_id": p.charge_id,
        "amount": format_amount(p.internal_amount, currency),
        "currency": currency,
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": "succeeded",
        "customer_email": p.email,
    }
