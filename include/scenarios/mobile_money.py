"""Scenario of ``mobile_money``: the provider's payments (REST) vs the app's checkout sessions (app DB).

Two consecutive 15-minute windows, W1 = [10:00, 10:15) and W2 = [10:15, 10:30) UTC. Each window has
``REGULAR`` payments whose session the app records within two minutes (all matched), and these planted
payments, each telling one part of a record's life across runs (settlement window 10 min, so a lone
record is ``pending`` from 10:05 in W1 and from 10:20 in W2; ``stuck`` after 30 min in ``processing``):

=================  ============================  ====================  ============================
payment            provider                      session               outcome: run W1 / run W2
=================  ============================  ====================  ============================
``stuck``          created 09:45, processing,    none                  stuck (exactly 30 min old:
                   last polled 10:04                                   the bound is inclusive) / -
``late_session``   created 10:02, completed      completed at 10:17    missing / matched (resolved)
``pending_match``  created 10:11, completed      completed at 10:16    pending / matched
``pending_lost``   created 10:05:00, completed   none                  pending (on the bound) /
                                                                       missing
``never``          created 10:03:30, completed   none                  missing / missing again
``young``          created 10:24, processing     none                  - / pending (not stuck yet)
``pending_w2``     created 10:27, completed      none (yet)            - / pending
``late_row``       created 10:12, completed      completed at 10:13,   pending / matched (W2 reads
                                                 written after run W1  from 10:05: window_overlap)
=================  ============================  ====================  ============================

``late_row``'s session is written to the app database only after the first run (``after_run``): it
belongs to W1 but reaches the database late, the case the spec's 10-minute ``window_overlap`` is for.

``QuietNight`` is the same spec at night, where a window can hold nothing at all: W1 = [02:00, 02:15)
has ``QUIET_REGULAR`` payments (all matched) and a ``straggler`` of 5.00 KES at 02:12 whose session never
comes (``pending`` in run W1); W2 = [02:15, 02:30) has no payment and no session of its own, so its run
finds only the straggler, now ``missing``. A few shillings against the night's volume so far: a
warning, not a page. W3 = [02:30, 02:45) is empty too: the straggler is still missing, a break
carried from W2 (still open), not a new one.
"""

from __future__ import annotations

import collections
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
        self.late_sessions: list[CheckoutSession] = []
        self._app_db: str | None = None

    def _regular(self, window: dt.datetime, count: int) -> None:
        # A payment every 90 s or so from the window's start, each with its session within two minutes.
        for index in range(count):
            created = window + dt.timedelta(seconds=90 * index + self._rng.randrange(60))
            self._pay(created, "completed", session_after=dt.timedelta(seconds=self._rng.randrange(20, 120)))

    def _pay(
        self,
        created: dt.datetime,
        status: str,
        updated_at: dt.datetime | None = None,
        session_after: dt.timedelta | None = None,
        late: bool = False,
        amount: Decimal | None = None,
    ) -> Payment:
        number = len(self.payments)
        drawn = Decimal(self._rng.randrange(5_000, 2_500_000)).scaleb(-2)
        payment = Payment(
            id=f"MMP{number:010d}",
            status=status,
            created_at=created,
            updated_at=updated_at or created,
            amount=drawn if amount is None else amount,
            currency=CURRENCY,
            msisdn=f"+2547{self._rng.randrange(10**8):08d}",
        )
        self.payments.append(payment)
        if session_after is not None:
            (self.late_sessions if late else self.sessions).append(
                CheckoutSession(
                    session_id=f"cs_{number:06d}",
                    provider_payment_id=payment.id,
                    amount=payment.amount,
                    currency=CURRENCY,
                    status="paid",
                    completed_at=created + session_after,
                )
            )
        return payment

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
        """Between runs (the demo and the tests call it): the late session reaches the app database."""
        if index == 0 and self._app_db is not None:
            add_checkout_sessions(self._app_db, self.late_sessions, create=False)

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

    def expected_breaks_by_run(self) -> list[collections.Counter[tuple[str, str | None]]]:
        return [
            collections.Counter({("stuck", "sessions"): 1, ("missing", "sessions"): 2}),
            # pending_lost is new; never is the W1 break seen again (a carried break).
            collections.Counter({("missing", "sessions"): 2}),
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
