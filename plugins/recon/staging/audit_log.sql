-- The audit log (recon.review, recon.corrections): one row per change a person or the pipeline made
-- to a break or a target system, who made it, when, and the values before and after. Append-only:
-- the trigger refuses UPDATE, DELETE and TRUNCATE for every role, the table owner included, and the
-- analyst role is granted SELECT only (recon.access).
create table if not exists reconciliation.audit_log (
    audit_id bigint generated always as identity primary key,
    recorded_at timestamptz not null default now(),
    actor text not null check (actor <> ''),
    action text not null,
    spec text,
    break_id text,
    correction_id text,
    note text,
    before jsonb,
    after jsonb
);
-- Only the owner may create the index or replace the trigger function, and after
-- `recon warehouse bootstrap-roles` that is the admin, not the pipeline that runs this file at
-- every run start: so each is created when missing only (no bare ALTER or CREATE OR REPLACE here).
do $$
begin
    if to_regclass('reconciliation.audit_log_break_idx') is null then
        create index audit_log_break_idx on reconciliation.audit_log (break_id, recorded_at);
    end if;
    if to_regprocedure('reconciliation.refuse_audit_change()') is null then
        create function reconciliation.refuse_audit_change() returns trigger
        language plpgsql as $f$
        begin
            raise exception 'reconciliation.audit_log is append-only: % refused', tg_op
                using errcode = 'insufficient_privilege';
        end
        $f$;
    end if;
    if not exists (select from pg_trigger where tgname = 'audit_log_append_only') then
        create trigger audit_log_append_only before update or delete on reconciliation.audit_log
            for each row execute function reconciliation.refuse_audit_change();
        create trigger audit_log_no_truncate before truncate on reconciliation.audit_log
            for each statement execute function reconciliation.refuse_audit_change();
    end if;
end
$$;
