"""Source connectors: each knows one protocol and yields canonical records, nothing of matching."""


class SourceUnavailable(RuntimeError):
    """A source could not be reached or refused us; the message names the Airflow connection."""
