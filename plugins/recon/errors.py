"""Errors that say whether trying again could help.

A task that fails with a ``PermanentError`` fails at once instead of spending its retries: bad
credentials, a broken file or a spec that does not fit the data fail the same way every time.
Anything else (a timeout, a 5xx, a dropped connection) is left to Airflow's retries.
"""

from __future__ import annotations


class PermanentError(Exception):
    """Retrying cannot help: the same input fails the same way again."""
