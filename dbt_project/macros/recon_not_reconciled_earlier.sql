{#-
    A where-clause condition on a relation of int_records_paired rows of the
    current run: the record is not one an earlier run already reconciled, as
    it is now, in the spec's window overlap (int_records_reconciled_earlier).
    Renders `true` when the spec has no overlap, so other specs pay nothing.
-#}
{% macro recon_not_reconciled_earlier(alias) -%}
    {%- if (var('window_overlap_seconds', 0) | int) > 0 -%}
        not exists (
            select from {{ ref('int_records_reconciled_earlier') }} as earlier
            where earlier.run_id = {{ sql_string_literal(var('run_id')) }}
                and earlier.pair = {{ alias }}.pair
                and earlier.side = {{ alias }}.side
                and earlier.pair_record_id = {{ alias }}.pair_record_id
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
