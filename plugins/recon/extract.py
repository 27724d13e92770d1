"""Extract one source of a spec for one window and load it into staging, as one unit of work."""

from __future__ import annotations

import logging

from recon import warehouse
from recon.sources import sftp_csv, stripe_charges
from recon.spec import SftpCsvSource, Spec, StripeChargesSource
from recon.staging.csv_loader import replace_window_from_csv
from recon.staging.loader import LoadResult, replace_window
from recon.window import RunWindow

log = logging.getLogger(__name__)


def extract_source(spec: Spec, source_name: str, window: RunWindow) -> LoadResult:
    sources = {source.name: source for source in spec.sources}
    if source_name not in sources:
        raise ValueError(f"spec {spec.name!r} has no source {source_name!r}; it has {sorted(sources)}")
    source = sources[source_name]
    with warehouse.connect(spec.warehouse_connection) as conn:
        if isinstance(source, StripeChargesSource):
            client = stripe_charges.client_from_connection(source.connection)
            records = stripe_charges.charge_records(client, window, source.connection, source.page_size)
            result = replace_window(conn, window, source.name, records)
        elif isinstance(source, SftpCsvSource):
            path = sftp_csv.remote_path(source, window)
            with sftp_csv.open_remote_file(source.connection, path) as stream:
                origin = f"sftp://{source.connection}{path}"
                result = replace_window_from_csv(
                    conn, window, source.name, stream, sftp_csv.layout(source), origin
                )
        else:  # pragma: no cover - the spec's discriminated union makes this unreachable
            raise TypeError(f"unknown source type {type(source).__name__}")
    log.info(
        "%s: loaded %d records, quarantined %d for %s",
        source.name,
        result.loaded,
        result.quarantined,
        window.run_id,
    )
    return result
