"""Extract one source of a spec for one window and load it into staging, as one unit of work."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from recon import warehouse
from recon.sources.base import FileSource, RecordSource
from recon.spec import Spec
from recon.staging.file_registry import load_files
from recon.staging.loader import LoadResult, replace_window
from recon.window import RunWindow

log = logging.getLogger(__name__)


def extract_source(spec: Spec, source_name: str, window: RunWindow) -> LoadResult:
    """Read ``source_name`` for ``window`` and replace what staging holds of it, all or nothing.

    The source is read from ``spec.window_overlap`` before the window's start; the rows are the run's.
    """
    source = spec.source(source_name)
    reading = window.widened(spec.window_overlap)
    with warehouse.connect(spec.warehouse_connection) as conn:
        if isinstance(source, RecordSource):
            result = replace_window(
                conn, window, source.name, source.read(reading), max_rejected_share=source.max_rejected_share
            )
        elif isinstance(source, FileSource):
            # Files are copied whole to local disk first: a transfer dropped mid-file then fails
            # before a single row is loaded, and the loader can read the file at disk speed.
            with (
                tempfile.TemporaryDirectory(prefix=f"recon-{source.name}-") as workdir,
                source.files(reading, Path(workdir)) as files,
            ):
                # Through the file registry: a file loads once, a changed one as a new version.
                result = load_files(conn, window, source, files)
        else:  # pragma: no cover - every registered type is one of the two kinds
            raise TypeError(f"source type {type(source).__name__} is neither a record nor a file source")
    log.info(
        "%s: loaded %d records, quarantined %d for %s",
        source.name,
        result.loaded,
        result.quarantined,
        window.run_id,
    )
    return result
