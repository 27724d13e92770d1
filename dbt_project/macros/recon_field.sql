{#-
    The value of one record field named by a spec setting: `field_name` is a SQL
    expression holding 'record_key', 'group_key', 'reference', 'customer_email',
    'status', 'currency' or 'attributes.<name>'. Empty text counts as null.
-#}
{% macro recon_field(field_name) -%}
    nullif(case {{ field_name }}
        when 'record_key' then record_key
        when 'group_key' then group_key
        when 'reference' then reference
        when 'customer_email' then customer_email
        when 'status' then record_status
        when 'currency' then currency
        else attributes ->> substr({{ field_name }}, 12)
    end, '')
{%- endmacro %}

{#-
    A key built from up to three fields (`fields` is a SQL text[] expression):
    the values joined by the unit separator, or null when any of them is null,
    so a partial composite key never matches.
-#}
{% macro recon_key(fields) -%}
    case
        -- The common case, without evaluating the general one.
        when {{ fields }} = array['record_key'] then nullif(record_key, '')
        when {{ recon_field(fields ~ '[1]') }} is null then null
        when cardinality({{ fields }}) >= 2 and {{ recon_field(fields ~ '[2]') }} is null then null
        when cardinality({{ fields }}) >= 3 and {{ recon_field(fields ~ '[3]') }} is null then null
        else concat_ws(chr(31),
            {{ recon_field(fields ~ '[1]') }},
            {{ recon_field(fields ~ '[2]') }},
            {{ recon_field(fields ~ '[3]') }})
    end
{%- endmacro %}
