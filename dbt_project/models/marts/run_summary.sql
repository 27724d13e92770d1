{#- One row per pair per currency per run: what each side holds, how its units
    came out, the discrepancy and the status and severity it gives.
    The percentage that decides them is over a base volume that means
    something in a quiet window: the run's own records, the records carried
    into it, and, for a window shorter than a day, what the spec's published
    runs of the 24 hours before reconciled. A currency mismatch is counted on
    both of its currencies' rows (docs/matching.md). -#}

{%- set window_start = "cast(" ~ sql_string_literal(var('window_start')) ~ " as timestamptz)" -%}
{%- set window_end = "cast(" ~ sql_string_literal(var('window_end')) ~ " as timestamptz)" -%}

-- depends_on: {{ ref('int_records_reconciled_earlier') }}
with

-- Records read again in the window overlap that an earlier run reconciled are its, not this run's.
records as (

    select * from {{ ref('int_records_paired') }}
    where run_id = {{ sql_string_literal(var('run_id')) }}
        and {{ recon_not_reconciled_earlier('int_records_paired') }}

),

units as (

    select * from {{ ref('int_records_matched') }}
    where run_id = {{ sql_string_literal(var('run_id')) }}

),

settings as (

    select * from {{ ref('stg_staging__pair_settings') }}
    where run_id = {{ sql_string_literal(var('run_id')) }}

),

-- What this run extracted (records carried from earlier runs are not counted again).
side_totals as (

    select
        pair,
        currency,
        count(*) filter (where side = 'left') as left_record_count,
        count(*) filter (where side = 'right') as right_record_count,
        coalesce(sum(amount) filter (where side = 'left'), 0) as left_total_amount,
        coalesce(sum(amount) filter (where side = 'right'), 0) as right_total_amount,
        coalesce(sum(abs(amount)) filter (where side = 'left'), 0) as left_gross_amount,
        coalesce(sum(abs(amount)) filter (where side = 'right'), 0) as right_gross_amount

    from records
    group by pair, currency

),

-- Each unit on the row of its currency (its left one, else its right one), and,
-- when its right side is in another currency, on that currency's row too: a
-- currency mismatch is counted there as well (with its right amount as the
-- discrepancy), and the right side's carried volume is that currency's. One scan
-- of the units: the second line is a lateral row, not a second read.
unit_lines as (

    select
        units.pair,
        lines.currency,
        lines.is_second_line,
        -- A unit's outcome counts on its own row; on a second line only a currency mismatch does.
        case when not lines.is_second_line or units.outcome = 'currency_mismatch' then units.outcome end
            as counted_outcome,
        (not lines.is_second_line or units.outcome = 'currency_mismatch')
            and units.is_break and not units.is_carried_break as is_new_break,
        not lines.is_second_line and units.is_carried_break as is_carried_break,
        units.missing_in = units.left_source as is_missing_in_left,
        units.missing_in = units.right_source as is_missing_in_right,
        case when lines.is_second_line then abs(units.right_amount) else units.discrepancy_amount end
            as discrepancy_amount,
        -- A critical class pages at once, but not below severity.min_amount.
        coalesce(
            case when lines.is_second_line then abs(units.right_amount) else units.discrepancy_amount end
                >= settings.critical_min_amount,
            false
        ) as is_over_min_amount,
        abs(coalesce(units.left_amount, units.right_amount)) as lone_amount,
        case when lines.is_second_line then 0 else units.left_carried_gross_amount end
            as left_carried_gross_amount,
        case
            when lines.is_second_line or units.right_currency is not distinct from units.currency
                then units.right_carried_gross_amount
            else 0
        end as right_carried_gross_amount,
        -- The spec's severity for the break's class (missing: per side first), if it sets one.
        case when units.is_break then
            coalesce(
                settings.class_severity ->> case when units.outcome = 'missing' then
                    case when units.missing_in = units.left_source then 'missing_in_left' else 'missing_in_right' end
                end,
                settings.class_severity ->> units.outcome
            )
        end as class_severity

    from units
    inner join settings
        on units.pair = settings.pair
    cross join lateral (
        values (units.currency, false), (units.right_currency, true)
    ) as lines (currency, is_second_line)
    where not lines.is_second_line
        or units.right_currency <> units.currency

),

outcome_totals as (

    select
        pair,
        currency,
        count(*) filter (where counted_outcome = 'matched') as matched_count,
        count(*) filter (where counted_outcome = 'matched_within_tolerance') as matched_within_tolerance_count,
        count(*) filter (where counted_outcome = 'amount_mismatch') as amount_mismatch_count,
        count(*) filter (where counted_outcome = 'currency_mismatch') as currency_mismatch_count,
        count(*) filter (where counted_outcome = 'status_mismatch') as status_mismatch_count,
        count(*) filter (where counted_outcome = 'attribute_mismatch') as attribute_mismatch_count,
        count(*) filter (where counted_outcome = 'late') as late_count,
        count(*) filter (where counted_outcome = 'missing' and is_missing_in_left) as missing_in_left_count,
        count(*) filter (where counted_outcome = 'missing' and is_missing_in_right) as missing_in_right_count,
        count(*) filter (where counted_outcome = 'pending') as pending_count,
        count(*) filter (where counted_outcome = 'duplicate') as duplicate_count,
        count(*) filter (where counted_outcome = 'near_duplicate') as near_duplicate_count,
        count(*) filter (where counted_outcome = 'group_mismatch') as group_mismatch_count,
        count(*) filter (where counted_outcome = 'balance_mismatch') as balance_mismatch_count,
        count(*) filter (where counted_outcome = 'stuck') as stuck_count,
        count(*) filter (where counted_outcome = 'unreadable') as unreadable_count,
        count(*) filter (where is_new_break) as break_count,
        count(*) filter (where is_carried_break) as carried_break_count,
        count(*) filter (where is_new_break and is_second_line) as cross_currency_break_count,
        coalesce(sum(discrepancy_amount) filter (where is_new_break), 0) as discrepancy_amount,
        -- severity.classes: a critical class makes the row critical (from severity.min_amount up);
        -- a warning class is left out of the percentage rule.
        count(*) filter (
            where is_new_break and class_severity = 'critical' and is_over_min_amount
        ) as critical_class_break_count,
        coalesce(sum(discrepancy_amount) filter (
            where is_new_break and class_severity is distinct from 'warning'
        ), 0) as rated_discrepancy_amount,
        coalesce(sum(lone_amount) filter (where counted_outcome = 'pending'), 0) as pending_amount,
        -- The records carried into the run (left pending or missing by the run before).
        coalesce(sum(left_carried_gross_amount), 0) as left_carried_gross_amount,
        coalesce(sum(right_carried_gross_amount), 0) as right_carried_gross_amount

    from unit_lines
    group by pair, currency

),

-- A window shorter than a day (a 15-minute spec at night) is judged against the
-- volume of the day behind it too: what the spec's published runs of the 24
-- hours before this window reconciled, per pair and currency.
earlier_totals as (

{% if is_incremental() %}
    select
        earlier.pair,
        earlier.currency,
        sum(earlier.gross_amount) as earlier_gross_amount

    from {{ this }} as earlier
    inner join {{ source('reconciliation_pipeline', 'runs') }} as runs
        on earlier.run_id = runs.run_id
    where earlier.spec = {{ sql_string_literal(var('spec')) }}
        and runs.status in ('success', 'discrepancy_found')
        and earlier.window_end <= {{ window_start }}
        and earlier.window_start >= {{ window_start }} - interval '1 day'
        and {{ window_end }} - {{ window_start }} < interval '1 day'
    group by 1, 2
{% else %}
    select
        cast(null as text) as pair,
        cast(null as text) as currency,
        cast(null as numeric) as earlier_gross_amount
    where false
{% endif %}

),

-- Every currency the pair has a row for.
pair_currencies as (

    select pair, currency from outcome_totals
    union
    select pair, currency from side_totals

),

summary as (

    select
        cast({{ sql_string_literal(var('run_id')) }} as text) as run_id,
        cast({{ sql_string_literal(var('spec')) }} as text) as spec,
        cast({{ sql_string_literal(var('window_start')) }} as timestamptz) as window_start,
        cast({{ sql_string_literal(var('window_end')) }} as timestamptz) as window_end,
        settings.pair,
        settings.pair_kind,
        pair_currencies.currency,
        settings.left_source,
        settings.right_source,
        coalesce(side_totals.left_record_count, 0) as left_record_count,
        coalesce(side_totals.right_record_count, 0) as right_record_count,
        coalesce(side_totals.left_total_amount, 0) as left_total_amount,
        coalesce(side_totals.right_total_amount, 0) as right_total_amount,
        coalesce(side_totals.left_total_amount, 0) - coalesce(side_totals.right_total_amount, 0)
            as net_difference_amount,
        coalesce(outcome_totals.matched_count, 0) as matched_count,
        coalesce(outcome_totals.matched_within_tolerance_count, 0) as matched_within_tolerance_count,
        coalesce(outcome_totals.amount_mismatch_count, 0) as amount_mismatch_count,
        coalesce(outcome_totals.currency_mismatch_count, 0) as currency_mismatch_count,
        coalesce(outcome_totals.status_mismatch_count, 0) as status_mismatch_count,
        coalesce(outcome_totals.attribute_mismatch_count, 0) as attribute_mismatch_count,
        coalesce(outcome_totals.late_count, 0) as late_count,
        coalesce(outcome_totals.missing_in_left_count, 0) as missing_in_left_count,
        coalesce(outcome_totals.missing_in_right_count, 0) as missing_in_right_count,
        coalesce(outcome_totals.pending_count, 0) as pending_count,
        coalesce(outcome_totals.duplicate_count, 0) as duplicate_count,
        coalesce(outcome_totals.near_duplicate_count, 0) as near_duplicate_count,
        coalesce(outcome_totals.group_mismatch_count, 0) as group_mismatch_count,
        coalesce(outcome_totals.balance_mismatch_count, 0) as balance_mismatch_count,
        coalesce(outcome_totals.stuck_count, 0) as stuck_count,
        coalesce(outcome_totals.unreadable_count, 0) as unreadable_count,
        coalesce(outcome_totals.break_count, 0) as break_count,
        coalesce(outcome_totals.carried_break_count, 0) as carried_break_count,
        coalesce(outcome_totals.cross_currency_break_count, 0) as cross_currency_break_count,
        coalesce(outcome_totals.pending_amount, 0) as pending_amount,
        coalesce(outcome_totals.discrepancy_amount, 0) as discrepancy_amount,
        coalesce(outcome_totals.critical_class_break_count, 0) as critical_class_break_count,
        coalesce(outcome_totals.rated_discrepancy_amount, 0) as rated_discrepancy_amount,
        greatest(coalesce(side_totals.left_gross_amount, 0), coalesce(side_totals.right_gross_amount, 0))
            as gross_amount,
        coalesce(outcome_totals.left_carried_gross_amount, 0) as left_carried_gross_amount,
        coalesce(outcome_totals.right_carried_gross_amount, 0) as right_carried_gross_amount,
        coalesce(earlier_totals.earlier_gross_amount, 0) as earlier_gross_amount,
        greatest(
            coalesce(side_totals.left_gross_amount, 0) + coalesce(outcome_totals.left_carried_gross_amount, 0),
            coalesce(side_totals.right_gross_amount, 0) + coalesce(outcome_totals.right_carried_gross_amount, 0)
        ) + coalesce(earlier_totals.earlier_gross_amount, 0) as base_amount,
        settings.tolerance_percent,
        settings.critical_percent,
        settings.critical_min_amount

    -- A currency can have records but no unit of its own (a currency mismatch is one unit, in one
    -- of its currencies): every record is counted in its own currency's row.
    from pair_currencies
    inner join settings
        on pair_currencies.pair = settings.pair
    left join outcome_totals
        on pair_currencies.pair = outcome_totals.pair
        and pair_currencies.currency = outcome_totals.currency
    left join side_totals
        on pair_currencies.pair = side_totals.pair
        and pair_currencies.currency = side_totals.currency
    left join earlier_totals
        on pair_currencies.pair = earlier_totals.pair
        and pair_currencies.currency = earlier_totals.currency

),

with_percent as (

    select
        *,
        case
            when base_amount > 0 then round(discrepancy_amount / base_amount * 100, 4)
            when discrepancy_amount > 0 then 100
            else 0
        end as discrepancy_percent,
        case
            when base_amount > 0 then round(rated_discrepancy_amount / base_amount * 100, 4)
            when rated_discrepancy_amount > 0 then 100
            else 0
        end as rated_discrepancy_percent

    from summary

),

final as (

    select
        *,
        -- Within the run's tolerance percent the run succeeds; its breaks are still kept.
        case
            when break_count = 0 then 'success'
            when tolerance_percent > 0 and discrepancy_percent <= tolerance_percent then 'success'
            else 'discrepancy_found'
        end as status,
        case
            when critical_class_break_count > 0 then 'critical'
            when rated_discrepancy_percent > critical_percent and rated_discrepancy_amount >= critical_min_amount
                then 'critical'
            when break_count > 0 and discrepancy_percent > tolerance_percent then 'warning'
            when break_count > 0 then 'info'
            else 'ok'
        end as severity,
        cast('{{ run_started_at.isoformat() }}' as timestamptz) as summarized_at

    from with_percent

)

select * from final
