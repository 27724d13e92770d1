"""Scenario of ``stripe_billing``: Stripe charges (the sandbox API) vs the app's nightly payments CSV
(the sandbox SFTP server), as ``include.sandbox.generator.billing_example`` plants them.

One day, 200 charges. Besides the matches (two of them one cent apart, within the 0.01 tolerance) the
generator plants: charges the export lacks and export rows Stripe never issued (``missing``), amounts
off by 1-50 major units (``amount_mismatch``), one row written twice (``duplicate``), one double
submission two minutes after its original (``near_duplicate``), a USD charge exported as EUR
(``currency_mismatch``), a charge fully refunded in Stripe but ``succeeded`` in the export
(``status_mismatch``), a payment recorded three hours after its charge (``late``), and two charges of
the last hour that the export does not hold yet: inside the spec's two-hour settlement window they are
``pending``, not breaks.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from include.local_stack import billing_peers
from include.sandbox.generator import billing_example, injected_breaks, injected_pending


class Scenario:
    spec = "stripe_billing"

    def __init__(self, seed: int, day: dt.date) -> None:
        self.seed = seed
        self.day = day
        self.data = billing_example(seed, day)

    def logical_dates(self) -> list[dt.datetime]:
        # "@daily": the run of day D has the logical date D+1 00:00 and reconciles [D, D+1).
        return [dt.datetime.combine(self.day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)]

    @contextmanager
    def serve(self, workdir: Path) -> Iterator[dict[str, str]]:
        with billing_peers(self.data, workdir) as peers:
            yield dict(peers.connections)

    def expected_breaks(self) -> collections.Counter[tuple[str, str | None]]:
        # A repeated row and a near-duplicate stand alone on the internal side: the engine names the
        # source they have no counterpart in (stripe) in missing_in, as for a missing record.
        return collections.Counter((b.break_class, b.missing_in) for b in injected_breaks(self.data))

    def expected_pending(self) -> set[str]:
        """Charge ids the run must leave ``pending`` (not breaks)."""
        return injected_pending(self.data)
