{#-
    Post-hook for the per-run incremental models: an index on run_id, so that
    replacing one run (the delete in recon_delete_run_rows and dbt's own
    delete+insert) and reading one run stay index lookups however many runs the
    table holds. Without it each run scans every earlier run's rows.
-#}
{% macro recon_index_run_id() -%}
    {%- if config.get('materialized') != 'view' -%}
        create index if not exists {{ this.identifier }}_run_id_idx on {{ this }} (run_id)
    {%- endif -%}
{%- endmacro %}
