{#-
    Pre-hook for the per-run incremental models: delete the current run's rows
    before inserting. delete+insert on unique_key run_id alone only deletes
    run_ids present in the *new* rows, so a rerun that now yields zero rows
    (e.g. all breaks fixed) would leave the old rows behind. Runs inside the
    model's transaction, so readers never see the run half-replaced.
-#}
{% macro recon_delete_run_rows() -%}
    {#- Only for tables keyed by run (not the break lives, merged by break_id). -#}
    {%- if is_incremental() and config.get('unique_key') == 'run_id' -%}
        delete from {{ this }} where run_id = {{ sql_string_literal(var('run_id')) }}
    {%- endif -%}
{%- endmacro %}
