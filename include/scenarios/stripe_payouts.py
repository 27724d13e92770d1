"""Scenario of ``stripe_payouts``: a week of Stripe payouts, their settlements and the bank's statements.

The spec runs weekly, so the scenario is the week (Monday to Monday, UTC) that holds ``day``. The Stripe
sandbox serves the week's payouts and every balance transaction they settle, refunds (negative nets)
included; the SFTP sandbox holds the bank's daily statements (``include.sandbox.payouts``). Planted,
each on its own payout:

* one pays out 1.00 more than the net of what it settles: ``group_mismatch`` (payouts vs settlement);
* one the bank never books, created before Friday: ``missing`` at the bank;
* one the bank books 0.01 short: matched by the payout id in its text, ``amount_mismatch``;
* one the bank books four days after the payout (``late_after`` is two): ``late``, by key;
* one whose bank line lost the payout id: matched by the fallback rule (same amount within five days);
* one whose line lost the id and is booked four days after: ``late``, by the fallback rule;
* the last USD payout, created on Sunday, which the bank books the next Monday (in a statement this
  window does not read): ``pending``, inside the three-day settlement window, so not a break.

And four bank lines credit money no payout of the account made: one quotes an unknown payout id, three
unrelated ones quote one other unknown id. No payout has their key or their amount: each is ``missing``
in payouts, none a ``duplicate``.

Every other payout matches its settlement by key and its bank line by the payout id.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from include.sandbox.payouts import SHARED_LINES, PayoutWeek
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
            {
                ("group_mismatch", None): 1,
                ("missing", "bank"): 1,
                ("amount_mismatch", None): 1,
                ("late", None): 2,
                ("missing", "payouts"): 1 + SHARED_LINES,
            }
        )
