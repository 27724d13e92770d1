{#-
    Fail fast when a model that depends on the run vars is built without them
    (or with nonsense), instead of silently producing an empty run.
    Only checks while executing `dbt run` / `dbt build`, so `dbt parse`,
    `dbt ls`, `dbt compile` and `dbt docs generate` work with the defaults.
-#}
{% macro recon_require_run_vars() -%}
    {%- if execute and flags.WHICH in ['run', 'build'] -%}
        {%- set problems = [] -%}
        {%- for name in ['spec', 'run_id', 'window_start', 'window_end'] -%}
            {%- if (var(name) | string | trim) == '' -%}
                {%- do problems.append('var ' ~ name ~ ' is empty') -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if problems -%}
            {{ exceptions.raise_compiler_error('recon: invalid run vars for ' ~ model.name ~ ': ' ~ (problems | join('; ')) ~ '. Pass them with --vars (see dbt_project/README.md).') }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
