"""Scenario of ``stripe_payouts``: a week of Stripe payouts, their settlements and the bank's statements.

The spec runs weekly, so the scenario is the week (Monday to Monday, UTC) that holds ``day``. The Stripe
sandbox serves the week's payouts and every balance transaction they settle; the SFTP sandbox holds the
bank's daily statements (``include.sandbox.payouts``). Four payouts are planted, each on its own:

* one pays out 1.00 more than the net of what it settles: ``group_mismatch`` (payouts vs settlement);
* one the bank never books, created early in the week: ``missing`` at the bank;
* one the bank books 0.01 short, early in the week: the rule wants equal amounts, so nothing matches
  it, and it is two breaks: the payout ``missing`` at the bank, the bank line ``missing`` in payouts;
* the last USD payout, created on Sunday, which the bank books the next Monday (in a statement this
  window does not read): ``pending``, inside the three-day settlement window, so not a break.

Every other payout matches its settlement by key and its bank line by the fallback rule.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from include.sandbox.payouts import PayoutWeek
from include.sandbox.sftp_server import SftpSandbox
from include.sandbox.stripe_server import StripeSandbox


class Scenario:
    spec = "stripe_payouts"

    def __init__(self, seed: int, day: dt.date) -> None:
        self.seed = seed
        self.day = day
        self.week = PayoutWeek(seed=seed, monday=day - dt.timedelta(days=day.weekday()))

    def logical_dates(self) -> list[dt.datetime]:
        # A weekly cron's run for the week [Monday, next Monday) is the one at the next Monday.
        return [self.week.window[1]]

    @contextmanager
    def serve(self, workdir: Path) -> Iterator[dict[str, str]]:
        api_key = "sk_test_" + secrets.token_hex(12)
        password = secrets.token_urlsafe(18)
        objects = self.week.objects
        with ExitStack() as stack:
            stripe = stack.enter_context(
                StripeSandbox(objects.charges, api_key=api_key, **objects.sandbox_kwargs())
            )
            sftp = stack.enter_context(SftpSandbox(workdir / "sftp", password=password))
            sftp.put_many({path: text.encode("cp1252") for path, text in self.week.statements().items()})
            bank = {
                "conn_type": "sftp",
                "host": "127.0.0.1",
                "port": sftp.port,
                "login": sftp.username,
                "password": password,
                "extra": {"host_key": sftp.host_public_key, "look_for_keys": False},
            }
            yield {
                "stripe_default": json.dumps(
                    {"conn_type": "generic", "host": stripe.base_url, "password": api_key}
                ),
                "bank_sftp": json.dumps(bank),
            }

    def expected_breaks(self) -> collections.Counter[tuple[str, str | None]]:
        # The recent payout is pending (not a break); the unbalanced one is booked by the bank.
        return collections.Counter(
            {("group_mismatch", None): 1, ("missing", "bank"): 2, ("missing", "payouts"): 1}
        )
