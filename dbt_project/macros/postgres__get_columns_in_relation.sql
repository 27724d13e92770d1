{#-
    dbt-postgres' own macro, but for one column: information_schema names every
    array type just "ARRAY", so dbt's unit tests cast fixture values as ARRAY
    (a syntax error; dbt-labs/dbt-adapters#939). Array columns report their
    element type instead ('_text' -> text[]), so a unit test can expect a
    record-keys array as '{k1}'. Everything else is as dbt-postgres has it.
-#}
{% macro postgres__get_columns_in_relation(relation) -%}
  {% call statement('get_columns_in_relation', fetch_result=True) %}
      select
          column_name,
          case when data_type = 'ARRAY' then substr(udt_name, 2) || '[]' else data_type end as data_type,
          character_maximum_length,
          numeric_precision,
          numeric_scale

      from {{ relation.information_schema('columns') }}
      where table_name = '{{ relation.identifier }}'
        {% if relation.schema %}
        and table_schema = '{{ relation.schema }}'
        {% endif %}
      order by ordinal_position

  {% endcall %}
  {% set table = load_result('get_columns_in_relation').table %}
  {{ return(sql_convert_columns_in_relation(table)) }}
{%- endmacro %}
