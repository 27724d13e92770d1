"""Scenario of ``mobile_money``: the provider's payments (REST) vs the app's checkout sessions (app DB).

Two consecutive 15-minute windows, W1 = [10:00, 10:15) and W2 = [10:15, 10:30) UTC. Each window has
``REGULAR`` payments whose session the app marks ``paid`` within two minutes (all matched), and these
planted payments, each telling one part of a record's life across runs. The spec's pending rules: a
payment without a session waits 10 minutes (pending from 10:05 in W1, from 10:20 in W2), a session
still ``processing`` waits 30 minutes, and nothing else waits; a payment ``processing`` for 30
minutes is ``stuck``; a payment without a session (paid at the provider, not credited in the app) is
rated critical: it pages at once.

===================  ============================  ====================  ==========================
payment              provider                      session               outcome: run W1 / run W2
===================  ============================  ====================  ==========================
``stuck``            created 09:45, processing,    none                  stuck (exactly 30 min old:
                     last polled 10:04                                   the bound is inclusive) / -
``late_session``     created 10:02, completed      paid at 10:17         missing / matched (resolved)
``pending_match``    created 10:11, completed      paid at 10:16         pending / matched
``pending_lost``     created 10:05:00, completed   none                  pending (on the bound) /
                                                                         missing
``never``            created 10:03:30, completed   none                  missing / missing again
``young``            created 10:24, processing     none                  - / pending (not stuck yet)
``pending_w2``       created 10:27, completed      none (yet)            - / pending
``late_row``         created 10:12, completed      paid at 10:13,        pending / matched (W2 reads
                                                   written after run W1  from 10:05: window_overlap)
``late_callback``    created 10:01, completed      processing from       pending (not a status
                     at 10:02                      10:01; paid at 10:18  mismatch) / matched (the
                                                                         carried payment, the
                                                                         session read again)
``credited_failed``  created 10:06, failed at      paid at 10:07         status_mismatch (failed vs
                     10:07                                               paid, mapped: completed) / -
``young_session``    created 10:26, processing     processing from 10:26 - / pending
===================  ============================  ====================  ==========================

And ``orphan_session``: a session paid at 10:27 for a payment id the provider does not list: in W2,
``missing`` in the payments at once (the sessions' pending rule holds only ``processing``).

``late_row``'s session is written to the app database only after the first run, and
``late_callback``'s callback reaches it only then (``after_run``): the first belongs to W1 but reaches
the database late, the case the spec's 10-minute ``window_overlap`` is for; the second is a session
still ``processing`` at run W1, updated to ``paid`` in W2.

Phone numbers are in M-Pesa's forms: the provider's ``payer.msisdn`` is ``2547XXXXXXXX`` (no ``+``), the
account reference the payer typed (``account_ref``) is the same number as ``07XX XXX XXX``, and the
session's ``payer_phone`` is ``07XXXXXXXX``. The spec masks all three at load (``personal``).

``QuietNight`` is the same spec at night, where a window can hold nothing at all: W1 = [02:00, 02:15)
has ``QUIET_REGULAR`` payments (all matched) and a ``straggler`` of 5.00 KES at 02:12 whose session never
comes (``pending`` in run W1); W2 = [02:15, 02:30) has no payment and no session of its own, so its run
finds only the straggler, now ``missing``: paid at the provider and not credited, a class the spec
rates critical, so it pages once, however few shillings. W3 = [02:30, 02:45) is empty too: the
straggler is still missing, a break carried from W2 (still open), not a new one, and it does not page
again.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import random
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path

from include.sandbox.mobile_money import CheckoutSession, MobileMoneySandbox, Payment, add_checkout_sessions
from include.scenarios._peers import app_database, day_start, http_connection, postgres_connection

WINDOW = dt.timedelta(minutes=15)
FIRST_WINDOW_AT = dt.timedelta(hours=10)  # W1 starts at 10:00 UTC on the scenario's day
REGULAR = 6
CURRENCY = "KES"
QUIET_AT = dt.timedelta(hours=2)  # QuietNight's W1 starts at 02:00 UTC
QUIET_REGULAR = 4
STRAGGLER_AMOUNT = Decimal("5.00")


class _Payments:
    """What both scenarios share: payments with or without a session, their peers, two windows."""

    spec = "mobile_money"

    def __init__(self, seed: int, day: dt.date, first_window_at: dt.timedelta) -> None:
        self.seed = seed
        self.day = day
        self.w1 = day_start(day) + first_window_at
        self.w2 = self.w1 + WINDOW
        self._rng = random.Random(f"mobile_money:{seed}:{day.isoformat()}")
        self.payments: list[Payment] = []
        self.sessions: list[CheckoutSession] = []
        self.late_sessions: list[CheckoutSession] = []  # written after the first run
        self.callbacks: list[CheckoutSession] = []  # sessions updated after the first run
        self._app_db: str | None = None

    def _regular(self, window: dt.datetime, count: int) -> None:
        # A payment every 90 s or so from the window's start, each with its session within two minutes.
        for index in range(count):
            created = window + dt.timedelta(seconds=90 * index + self._rng.randrange(60))
            self._pay(created, "completed", session_after=dt.timedelta(seconds=self._rng.randrange(20, 120)))

    def _phone(self) -> tuple[str, str, str]:
        """One payer's number as the provider (2547XXXXXXXX), the account reference (07XX XXX XXX)
        and the app (07XXXXXXXX) write it."""
        digits = f"{self._rng.randrange(10**8):08d}"
        return f"2547{digits}", f"07{digits[:2]} {digits[2:5]} {digits[5:]}", f"07{digits}"

    def _pay(
        self,
        created: dt.datetime,
        status: str,
        updated_at: dt.datetime | None = None,
        session_after: dt.timedelta | None = None,
        late: bool = False,
        amount: Decimal | None = None,
        session_status: str = "paid",
    ) -> Payment:
        number = len(self.payments)
        drawn = Decimal(self._rng.randrange(5_000, 2_500_000)).scaleb(-2)
        msisdn, account_ref, app_phone = self._phone()
        payment = Payment(
            id=f"MMP{number:010d}",
            status=status,
            created_at=created,
            updated_at=updated_at or created,
            amount=drawn if amount is None else amount,
            currency=CURRENCY,
            msisdn=msisdn,
            account_ref=account_ref,
        )
        self.payments.append(payment)
        if session_after is not None:
            (self.late_sessions if late else self.sessions).append(
                CheckoutSession(
                    session_id=f"cs_{number:06d}",
                    provider_payment_id=payment.id,
                    amount=payment.amount,
                    currency=CURRENCY,
                    status=session_status,
                    updated_at=created + session_after,
                    created_at=created if session_status == "processing" else None,
                    payer_phone=app_phone,
                )
            )
        return payment

    def phones(self) -> list[str]:
        """Every payer's number in each form the peers serve it, and its bare digits."""
        forms = [p.msisdn for p in self.payments] + [p.account_ref or "" for p in self.payments]
        forms += [s.payer_phone or "" for s in (*self.sessions, *self.late_sessions, *self.callbacks)]
        return sorted({form for form in forms if form} | {form.replace(" ", "") for form in forms if form})

    def logical_dates(self) -> list[dt.datetime]:
        """The ends of W1 and W2: a 15-minute cron run reconciles the window that just closed."""
        return [self.w2, self.w2 + WINDOW]

    @contextmanager
    def serve(self, workdir: Path) -> Iterator[dict[str, str]]:
        token = "mm_" + secrets.token_hex(12)
        with ExitStack() as stack:
            api = stack.enter_context(MobileMoneySandbox(self.payments, token=token))
            app_db = stack.enter_context(app_database(workdir, self.spec, self.seed, self.day))
            add_checkout_sessions(app_db, self.sessions)
            self._app_db = app_db
            yield {
                "mobile_money_api": http_connection(api.base_url, token),
                "checkout_db": postgres_connection(app_db),
            }

    def after_run(self, index: int) -> None:
        """Between runs (the demo and the tests call it): the late session reaches the app database, and
        the late callback updates its session."""
        if index == 0 and self._app_db is not None:
            add_checkout_sessions(self._app_db, [*self.late_sessions, *self.callbacks], create=False)

    def expected_breaks_by_run(self) -> list[collections.Counter[tuple[str, str | None]]]:
        """What each run finds, in the order of ``logical_dates``."""
        raise NotImplementedError

    def expected_breaks(self) -> collections.Counter[tuple[str, str | None]]:
        return self.expected_breaks_by_run()[-1]


class Scenario(_Payments):
    def __init__(self, seed: int, day: dt.date) -> None:
        super().__init__(seed, day, FIRST_WINDOW_AT)
        for window in (self.w1, self.w2):
            self._regular(window, REGULAR)
        at = self.w1
        minutes = dt.timedelta(minutes=1)
        self.stuck = self._pay(at - 15 * minutes, "processing", updated_at=at + 4 * minutes)
        self.late_session = self._pay(at + 2 * minutes, "completed", session_after=15 * minutes)
        self.pending_match = self._pay(at + 11 * minutes, "completed", session_after=5 * minutes)
        self.pending_lost = self._pay(at + 5 * minutes, "completed")
        self.never = self._pay(at + 3.5 * minutes, "completed")
        self.young = self._pay(self.w2 + 9 * minutes, "processing")
        self.pending_w2 = self._pay(self.w2 + 12 * minutes, "completed")
        self.late_row = self._pay(at + 12 * minutes, "completed", session_after=minutes, late=True)
        # The payer confirmed at 10:02; the provider's callback reaches the app only after run W1.
        self.late_callback = self._pay(
            at + 1 * minutes, "completed", updated_at=at + 2 * minutes, session_after=0 * minutes,
            session_status="processing",
        )  # fmt: skip
        prompt = self.sessions[-1]
        self.callbacks.append(
            dataclasses.replace(
                prompt, status="paid", created_at=prompt.updated_at, updated_at=at + 18 * minutes
            )
        )
        # Failed at the provider, yet the app marked its session paid.
        self.credited_failed = self._pay(
            at + 6 * minutes, "failed", updated_at=at + 7 * minutes, session_after=minutes
        )
        self.young_session = self._pay(
            self.w2 + 11 * minutes, "processing", session_after=0 * minutes, session_status="processing"
        )
        # A session paid for a payment id the provider never lists.
        _, _, phone = self._phone()
        self.orphan_session = CheckoutSession(
            "cs_orphan", "MMP9999999999", Decimal("1500.00"), CURRENCY, "paid", self.w2 + 12 * minutes,
            payer_phone=phone,
        )  # fmt: skip
        self.sessions.append(self.orphan_session)

    def expected_breaks_by_run(self) -> list[collections.Counter[tuple[str, str | None]]]:
        return [
            collections.Counter(
                {("stuck", "sessions"): 1, ("missing", "sessions"): 2, ("status_mismatch", None): 1}
            ),
            # pending_lost is new; never is the W1 break seen again (a carried break); the orphan
            # session is missing at the provider at once.
            collections.Counter({("missing", "sessions"): 2, ("missing", "payments"): 1}),
        ]


class QuietNight(_Payments):
    """Two windows at night: the second has nothing of its own but W1's straggler, now missing."""

    def __init__(self, seed: int, day: dt.date) -> None:
        super().__init__(seed, day, QUIET_AT)
        self._regular(self.w1, QUIET_REGULAR)
        # Inside W1's last ten minutes (its settlement window): pending in run W1, missing in run W2.
        self.straggler = self._pay(self.w1 + dt.timedelta(minutes=12), "completed", amount=STRAGGLER_AMOUNT)

    def logical_dates(self) -> list[dt.datetime]:
        """The ends of W1, W2 and W3."""
        return [self.w2, self.w2 + WINDOW, self.w2 + 2 * WINDOW]

    def expected_breaks_by_run(self) -> list[collections.Counter[tuple[str, str | None]]]:
        # W3 lists the straggler again, as a carried break (not counted in its discrepancy).
        missing = collections.Counter({("missing", "sessions"): 1})
        return [collections.Counter(), missing, missing]
