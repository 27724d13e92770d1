-- The file registry: which remote file (path + content) each run met, and what became of it.
-- Written by recon.staging.file_registry inside the load's own transaction. Idempotent.

create schema if not exists staging;

-- One row per (file version, run that met it). A version is one content (sha256) of one path.
create table if not exists staging.source_files (
    spec text not null,
    source text not null,
    remote_path text not null,                  -- the path on the server, as listed
    version integer not null check (version >= 1),  -- 1, 2, ... per path, in order of delivery
    run_id text not null,                       -- the run that met this version
    origin text not null,                       -- staging.records.origin of its rows
    size_bytes bigint not null,
    sha256 text not null,
    modified_at timestamptz,                    -- the server's modification time, when it says
    -- loaded: its rows are in run_id's staging slice; superseded: a newer version was loaded since;
    -- withdrawn: run_id reloaded its window without it (gone from the server, or its rows were lost);
    -- skipped_duplicate: already loaded by loaded_by_run_id (overlapping windows), not loaded again.
    status text not null check (status in ('loaded', 'superseded', 'withdrawn', 'skipped_duplicate')),
    loaded_by_run_id text not null,             -- the run whose slice holds the rows (run_id if loaded)
    record_count bigint,                        -- rows it put in staging.records / staging.quarantine
    quarantined_count bigint,
    source_config_sha256 text not null,         -- the source's spec settings it was loaded with
    loaded_at timestamptz not null default now(),   -- when this row was first written
    checked_at timestamptz not null default now(),  -- when a run last met it unchanged
    superseded_at timestamptz,
    superseded_by_run_id text,
    primary key (spec, source, remote_path, version, run_id)
);

-- At most one loaded version of a path at a time: the registry's core promise.
create unique index if not exists source_files_one_loaded_idx
    on staging.source_files (spec, source, remote_path) where status = 'loaded';
create index if not exists source_files_run_idx on staging.source_files (spec, source, run_id);
