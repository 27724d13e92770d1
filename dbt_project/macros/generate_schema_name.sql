{#-
    Use a model's custom schema verbatim (no "<target schema>_" prefix), so the
    result tables land in exactly `reconciliation`, `recon_intermediate` and
    `recon_staging`. Nodes without a custom schema use the target schema.
    Var `recon_schema_prefix` (empty by default) puts every model in prefixed
    schemas instead: `recon run --key` matches there, out of the way of the
    scheduled runs' results, and drops them after.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ var('recon_schema_prefix', '') }}{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
