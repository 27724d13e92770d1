"""Source connectors: each knows one protocol and yields canonical records, nothing of matching.

Every source type is one module of this package that registers its spec model with
``recon.sources.registry.register``; the spec's ``sources`` union is built from that registry, so
adding a type edits no dispatcher (see ``registry``).
"""

from recon.errors import PermanentError


class SourceUnavailable(RuntimeError):
    """A source could not be reached; the message names the Airflow connection. Worth a retry."""


class SourceRejected(SourceUnavailable, PermanentError):
    """A source refused us for good (bad credentials, forbidden, bad request): no retry can help."""
