{#-
    Serialize the create-and-swap of staging views between concurrent dbt
    invocations (e.g. two specs' runs at once). Postgres view materialization
    renames the live view to `<name>__dbt_backup` and drops it after commit;
    two invocations doing that at the same time fail with
    'relation "..._dbt_backup" already exists'. Used as a session-level
    advisory lock taken before the transaction and released after the backup
    is dropped (hooks with transaction: false).
-#}
{% macro recon_view_swap_lock(action) -%}
    {%- if action == 'lock' -%}
        select pg_advisory_lock(hashtext('recon:dbt:view_swap'))
    {%- elif action == 'unlock' -%}
        select pg_advisory_unlock(hashtext('recon:dbt:view_swap'))
    {%- else -%}
        {{ exceptions.raise_compiler_error("recon_view_swap_lock: action must be 'lock' or 'unlock', got " ~ action) }}
    {%- endif -%}
{%- endmacro %}
