-- Proposed and applied changes to a spec's corrected system (recon.corrections): one row per change,
-- each with the target row's values before and after. `recon corrections plan` writes `planned` rows
-- and changes nothing in the target.
create table if not exists reconciliation.corrections (
    correction_id text primary key,
    spec text not null,
    break_id text not null,
    break_class text not null,
    kind text not null check (kind in ('insert', 'update', 'delete')),
    target_connection text not null,
    target_table text not null,
    record_key text not null,
    row_id text,
    before jsonb,
    after jsonb,
    status text not null default 'planned'
        check (status in ('planned', 'applying', 'applied', 'stale', 'failed', 'reverted', 'refused')),
    auto_apply boolean not null default false,
    planned_at timestamptz not null default now(),
    planned_by text not null,
    applied_at timestamptz,
    applied_by text,
    outcome text
);
create index if not exists corrections_spec_idx on reconciliation.corrections (spec, status);
-- `refused`: a change the plan (or apply) would not make, the reason in `outcome`: the truth behind it
-- is in doubt, or it would write a negative amount. Never applied. Warehouses made before it gain it.
do $$
begin
    if exists (
        select from pg_constraint
        where conrelid = 'reconciliation.corrections'::regclass and conname = 'corrections_status_check'
            and pg_get_constraintdef(oid) not like '%refused%'
    ) then
        alter table reconciliation.corrections drop constraint corrections_status_check;
        alter table reconciliation.corrections add constraint corrections_status_check check (
            status in ('planned', 'applying', 'applied', 'stale', 'failed', 'reverted', 'refused')
        );
    end if;
end $$;

-- The target row as it was before a correction changed or deleted it (recon corrections apply), so
-- `recon corrections revert` can restore it. One row per applied correction that touched a row.
create table if not exists reconciliation.correction_backups (
    correction_id text primary key,
    target_table text not null,
    row_data jsonb not null,
    taken_at timestamptz not null default now()
);
