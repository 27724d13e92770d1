{#-
    Render a value as a Postgres string literal, doubling single quotes, so
    vars coming from the DAG can never break out of the literal.
-#}
{% macro sql_string_literal(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}
