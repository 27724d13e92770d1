{#- One row per break per run: every unit of the run whose outcome is a break,
    with its severity against the run's totals in its pair and currency. -#}

with

units as (

    select * from {{ ref('int_records_matched') }}
    where run_id = {{ sql_string_literal(var('run_id')) }}
        and is_break

),

summary as (

    select * from {{ ref('run_summary') }}
    where run_id = {{ sql_string_literal(var('run_id')) }}

),

settings as (

    select * from {{ ref('stg_staging__pair_settings') }}
    where run_id = {{ sql_string_literal(var('run_id')) }}

),

breaks as (

    select
        units.run_id,
        units.spec,
        units.window_start,
        units.window_end,
        units.pair,
        units.unit_id as break_id,
        units.outcome as break_class,
        -- The spec's severity for the class (severity.classes; missing per side
        -- first) when it sets one, but never critical below severity.min_amount
        -- (issue 17: a few shillings never page); else against the row's base
        -- volume, and nothing is critical while the row's rated discrepancy is
        -- below severity.min_amount.
        coalesce(
            case
                when coalesce(
                    settings.class_severity ->> case when units.outcome = 'missing' then
                        case when units.missing_in = units.left_source then 'missing_in_left'
                            else 'missing_in_right' end
                    end,
                    settings.class_severity ->> units.outcome
                ) = 'critical' and units.discrepancy_amount < summary.critical_min_amount then 'warning'
            end,
            settings.class_severity ->> case when units.outcome = 'missing' then
                case when units.missing_in = units.left_source then 'missing_in_left' else 'missing_in_right' end
            end,
            settings.class_severity ->> units.outcome,
            case
                when units.discrepancy_amount > summary.critical_percent / 100 * summary.base_amount
                    and summary.rated_discrepancy_amount >= summary.critical_min_amount
                    then 'critical'
                else 'warning'
            end
        ) as severity,
        units.missing_in,
        units.left_source,
        units.right_source,
        units.match_key,
        units.left_record_keys,
        units.right_record_keys,
        units.left_amount,
        units.right_amount,
        units.left_currency,
        units.right_currency,
        units.currency,
        units.amount_difference,
        units.discrepancy_amount,
        units.left_occurred_at,
        units.right_occurred_at,
        coalesce(units.left_occurred_at, units.right_occurred_at) as occurred_at,
        units.time_difference_seconds,
        units.left_status,
        units.right_status,
        units.different_fields,
        units.customer_email,
        units.reference,
        units.quarantine_reason,
        units.rule as match_rule,
        units.carried_from_run_id,
        units.is_carried_break,
        cast('{{ run_started_at.isoformat() }}' as timestamptz) as detected_at

    from units
    inner join summary
        on units.pair = summary.pair
        and units.currency = summary.currency
    inner join settings
        on units.pair = settings.pair

)

select * from breaks
