{#-
    Whether a unit is held by a pending rule that lists statuses (timing.pending):
    its status is one its side's rules list, and its time is at most that rule's
    `within` before the run's window end (inclusive). `unit` is the unit's alias
    (with occurred_at and record_status), `side` a SQL expression giving 'left' or
    'right'; `settings` must be in scope. A held lone unit is `pending`, and so is
    a matched unit with a held side (docs/matching.md).
-#}
{% macro recon_held_in_status(unit, side) -%}
    coalesce(
        {{ unit }}.occurred_at
            >= cast({{ sql_string_literal(var('window_end')) }} as timestamptz)
            - cast(
                case {{ side }} when 'left' then settings.left_pending_statuses
                    else settings.right_pending_statuses end ->> {{ unit }}.record_status
                as numeric
            ) * interval '1 second',
        false
    )
{%- endmacro %}
