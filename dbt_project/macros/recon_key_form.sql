{#-
    A key field's value in its side's key form (recon.key_forms): letter case,
    then surrounding white space, then a prefix (in any letter case), then
    leading zeros; empty text counts as null. `form` names the relation that
    holds the side's form as columns key_case, key_trim_chars,
    key_prefix_pattern and key_zeros_pattern (recon_key_form_columns); a step
    the form leaves out is a no-op ('' trims nothing, '^' removes nothing), so
    the value is read once whatever the form.
-#}
{% macro recon_normalize_key(value, form) -%}
    nullif(regexp_replace(regexp_replace(btrim(
        case {{ form }}.key_case
            when 'lower' then lower({{ value }})
            when 'upper' then upper({{ value }})
            else {{ value }}
        end, {{ form }}.key_trim_chars),
        {{ form }}.key_prefix_pattern, '', 'i'),
        {{ form }}.key_zeros_pattern, ''), '')
{%- endmacro %}

{#-
    The columns recon_normalize_key reads, from one side's form (`key_form`, a
    jsonb expression as staging.pair_settings.key_forms holds it per side).
    The prefix's pattern is written by recon.key_forms, the one place that
    escapes it.
-#}
{% macro recon_key_form_columns(key_form) -%}
    {{ key_form }} ->> 'case' as key_case,
    case when ({{ key_form }} ->> 'trim')::boolean then E' \t\r\n' else '' end as key_trim_chars,
    coalesce({{ key_form }} ->> 'prefix_pattern', '^') as key_prefix_pattern,
    case when ({{ key_form }} ->> 'remove_leading_zeros')::boolean then '^0+(?=.)' else '^' end
        as key_zeros_pattern
{%- endmacro %}

{#-
    recon_key (recon_field.sql) with every field in the side's key form: the
    values joined by the unit separator, or null when any of them is null once
    normalised, so a partial composite key never matches.
-#}
{% macro recon_normalized_key(fields, form) -%}
    case
        when {{ fields }} = array['record_key'] then {{ recon_normalize_key('record_key', form) }}
        when {{ recon_normalize_key(recon_field(fields ~ '[1]'), form) }} is null then null
        when cardinality({{ fields }}) >= 2
            and {{ recon_normalize_key(recon_field(fields ~ '[2]'), form) }} is null then null
        when cardinality({{ fields }}) >= 3
            and {{ recon_normalize_key(recon_field(fields ~ '[3]'), form) }} is null then null
        else concat_ws(chr(31),
            {{ recon_normalize_key(recon_field(fields ~ '[1]'), form) }},
            {{ recon_normalize_key(recon_field(fields ~ '[2]'), form) }},
            {{ recon_normalize_key(recon_field(fields ~ '[3]'), form) }})
    end
{%- endmacro %}
