{#-
    Use a model's custom schema verbatim (no "<target schema>_" prefix), so the
    result tables land in exactly `reconciliation`, `recon_intermediate` and
    `recon_staging`. Nodes without a custom schema use the target schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
