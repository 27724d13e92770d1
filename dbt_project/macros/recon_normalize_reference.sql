{#- A reference compared loosely: lower case, letters and digits only. -#}
{% macro recon_normalize_reference(reference) -%}
    nullif(regexp_replace(lower({{ reference }}), '[^a-z0-9]', '', 'g'), '')
{%- endmacro %}
