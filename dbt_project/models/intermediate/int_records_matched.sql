{{ recon_require_run_vars() }}

{#- The joins below are written in the order they must run. Through this chain
    of CTEs Postgres' row estimates collapse (a million units estimated at a few
    dozen) and it would pick nested loops, a billion comparisons at 1M x 1M, so
    the written order is kept, nested loops are off and JIT (which such cost
    estimates would trigger) too, for this model's transaction only
    (include/bench/README.md shows the plans). The indexes serve the next run:
    finding the previous run and reading what it left pending or missing. -#}
{{ config(
    pre_hook=[
        "set local join_collapse_limit = 1",
        "set local enable_nestloop = off",
        "set local jit = off",
        "set local work_mem = '" ~ var('recon_work_mem', '64MB') ~ "'",
    ],
    post_hook=[
        "create index if not exists {{ this.identifier }}_spec_window_idx on {{ this }} (spec, window_end)",
        "create index if not exists {{ this.identifier }}_carried_idx on {{ this }} (run_id)"
        ~ " where outcome in ('pending', 'missing', 'unreadable')",
        "drop index if exists {{ this.schema }}.{{ this.identifier }}_carry_idx",
    ],
) }}

{#- One row per match unit of the run, per pair: a matched pair of records, a
    group matched against a record (N:1, 1:N) or against a group (balances), or
    one record left on its own. Every record of the run ends in exactly one
    unit per pair, and every unit has exactly one outcome (docs/matching.md).

    Order of work, all set-based:
      1. repeated keys: the earliest record of a key is kept; when the other
         side has the key, a later one that looks like a copy of the kept one
         (same currency and amount, at most copy_within later) is `duplicate`,
         any other later one goes on alone (steps 4-6); when the other side
         lacks the key, every record of it goes on alone;
      2. grouped sides are summed per key;
      3. key match: equal keys, one to one;
      4. near duplicates among what is left (an earlier same-side record with
         the same near key, amount and time close);
      5. fallback rules, in order: candidate pairs by amount, time and
         reference, assigned one to one in rounds of mutual best choice;
      6. what is still alone is `stuck`, `unreadable` (the other side's record
         of its key was quarantined), `pending` (held by a pending rule of its
         side) or `missing`;
      7. matched units are compared field by field; a pair with a record in a
         transitional status inside its pending window is `pending`.
    Records an earlier run left `pending`, `unreadable` or `missing` (both
    records of a pending pair) are carried into this run (from this table), so
    a late arrival matches them and resolves their break, a pending record past
    its window becomes `missing`, and a pending pair is judged again.
    Records read again in the spec's window overlap that an earlier run already
    reconciled, unchanged, are left out (int_records_reconciled_earlier). -#}

{%- set run_id = sql_string_literal(var('run_id')) -%}
{%- set rounds = var('recon_fallback_rounds', 30) | int -%}
{%- set edge_order = 'rule_order, amount_gap, time_gap, left_record_keys, right_record_keys, left_unit, right_unit' -%}

-- depends_on: {{ ref('int_records_reconciled_earlier') }}
with

settings as (

    select * from {{ ref('stg_staging__pair_settings') }}
    where run_id = {{ run_id }}

),

-- Inlined where used (the carried-record check reads only its key columns).
fresh_records as not materialized (

    select
        pair,
        side,
        is_grouped,
        source_name,
        pair_record_id,
        record_key,
        match_key,
        near_key,
        amount,
        currency,
        occurred_at,
        record_status,
        normalized_status,
        customer_email,
        reference,
        attributes,
        origin,
        origin_line_number,
        is_stuck,
        cast(null as text) as carried_from_run_id,
        cast(null as text) as carried_outcome

    from {{ ref('int_records_paired') }}
    where run_id = {{ run_id }}
        -- Read again in the window overlap, unchanged: the earlier run's outcome stands.
        and {{ recon_not_reconciled_earlier('int_records_paired') }}

),

{% if is_incremental() %}

-- The latest earlier run of this spec that this table holds.
previous_run as (

    select run_id
    from {{ this }}
    where spec = {{ sql_string_literal(var('spec')) }}
        and window_end <= cast({{ sql_string_literal(var('window_start')) }} as timestamptz)
    order by window_end desc
    limit 1

),

carried_records as (

    select
        previous.pair,
        carried.record ->> 'side' as side,
        cast(carried.record ->> 'is_grouped' as boolean) as is_grouped,
        carried.record ->> 'source_name' as source_name,
        carried.record ->> 'pair_record_id' as pair_record_id,
        carried.record ->> 'record_key' as record_key,
        carried.record ->> 'match_key' as match_key,
        carried.record ->> 'near_key' as near_key,
        cast(carried.record ->> 'amount' as numeric) as amount,
        carried.record ->> 'currency' as currency,
        cast(carried.record ->> 'occurred_at' as timestamptz) as occurred_at,
        carried.record ->> 'record_status' as record_status,
        carried.record ->> 'normalized_status' as normalized_status,
        carried.record ->> 'customer_email' as customer_email,
        carried.record ->> 'reference' as reference,
        carried.record -> 'attributes' as attributes,
        carried.record ->> 'origin' as origin,
        cast(carried.record ->> 'origin_line_number' as integer) as origin_line_number,
        -- Older now than when it was left alone: stuck is judged against this run's window.
        coalesce(
            carried.record ->> 'record_status' = any(
                case carried.record ->> 'side'
                    when 'left' then settings.left_stuck_statuses
                    else settings.right_stuck_statuses
                end
            )
            and cast(carried.record ->> 'occurred_at' as timestamptz)
                <= cast({{ sql_string_literal(var('window_end')) }} as timestamptz) - case carried.record ->> 'side'
                    when 'left' then settings.left_stuck_after
                    else settings.right_stuck_after
                end,
            false
        ) as is_stuck,
        coalesce(previous.carried_from_run_id, previous.run_id) as carried_from_run_id,
        previous.outcome as carried_outcome

    from {{ this }} as previous
    inner join settings
        on previous.pair = settings.pair
    cross join lateral jsonb_array_elements(previous.carry_records) as carried (record)
    where previous.run_id = (select run_id from previous_run)
        and previous.outcome in ('pending', 'missing', 'unreadable')

),

all_records as (

    select * from fresh_records

    union all

    -- A record this run extracted again is taken as extracted now.
    select carried_records.*
    from carried_records
    where not exists (
        select from fresh_records
        where fresh_records.pair = carried_records.pair
            and fresh_records.side = carried_records.side
            and fresh_records.source_name = carried_records.source_name
            and fresh_records.record_key = carried_records.record_key
    )

),

{% else %}

all_records as (

    select * from fresh_records

),

{% endif %}

-- The keys of the rows quarantined on each source, in this run and in the runs
-- its carried records come from: a lone record whose counterpart's only record
-- was quarantined is `unreadable` there, not `missing`. Read when the other
-- side is keyed on record_key, the key a quarantined row keeps.
quarantined_keys as (

    select
        source_name,
        record_key,
        min(reason) as reason

    from {{ ref('stg_staging__quarantine') }}
    where spec = {{ sql_string_literal(var('spec')) }}
        and record_key is not null
        and (
            run_id = {{ run_id }}
            {%- if is_incremental() %}
            or run_id in (select carried_from_run_id from carried_records)
            {%- endif %}
        )
    group by source_name, record_key

),

-- Those keys as each pair's other side matches them (in that side's key form),
-- per lone side: what a lone record's match key is compared with.
quarantined_match_keys as (

    select
        forms.pair,
        forms.side,
        {{ recon_normalize_key('quarantined_keys.record_key', 'forms') }} as match_key,
        min(quarantined_keys.reason) as reason

    from quarantined_keys
    inner join (
        select
            settings.pair,
            sides.side,
            sides.other_source,
            {{ recon_key_form_columns("nullif(sides.other_form, 'null')") }}
        from settings
        cross join lateral (
            values
                ('left', settings.right_source, settings.key_forms -> 'right'),
                ('right', settings.left_source, settings.key_forms -> 'left')
        ) as sides (side, other_source, other_form)
    ) as forms
        on quarantined_keys.source_name = forms.other_source
    group by 1, 2, 3

),

-- 1. One pass over every keyed record finds the few keys that need work: keys
-- repeated on a side (only their records get sorted), and keys present on one
-- side only (what the key match will leave alone).
unusual_keys as (

    select
        pair,
        match_key,
        count(*) filter (where side = 'left' and not is_grouped) as left_singles,
        count(*) filter (where side = 'right' and not is_grouped) as right_singles,
        bool_or(side = 'left') as is_on_left,
        bool_or(side = 'right') as is_on_right

    from all_records
    where match_key is not null
    group by pair, match_key
    having count(*) filter (where side = 'left' and not is_grouped) > 1
        or count(*) filter (where side = 'right' and not is_grouped) > 1
        or not bool_or(side = 'left')
        or not bool_or(side = 'right')

),

-- The earliest record of a repeated key on each side is kept. A later one is a
-- `duplicate` only when there is something to duplicate (the other side has the
-- key) and it looks like a copy of the kept record; a later record that differs
-- (an unrelated bank line sharing a reference) is a record of its own.
repeated_occurrences as (

    select
        pair,
        pair_record_id,
        key_occurrence,
        key_occurrence > 1
            and (
                -- A balance side not summed holds one row per entity: any later row of
                -- an entity is a repeat of it, whatever the other side holds.
                pair_kind = 'balances'
                or (
                    has_counterpart
                    and currency = kept_currency
                    and amount = kept_amount
                    and occurred_at - kept_occurred_at <= copy_within
                )
            )
            as is_key_duplicate

    from (
        select
            all_records.pair,
            all_records.pair_record_id,
            all_records.currency,
            all_records.amount,
            all_records.occurred_at,
            settings.copy_within,
            settings.pair_kind,
            case all_records.side
                when 'left' then unusual_keys.is_on_right
                else unusual_keys.is_on_left
            end as has_counterpart,
            row_number() over occurrences as key_occurrence,
            first_value(all_records.currency) over occurrences as kept_currency,
            first_value(all_records.amount) over occurrences as kept_amount,
            first_value(all_records.occurred_at) over occurrences as kept_occurred_at

        from all_records
        inner join unusual_keys
            on all_records.pair = unusual_keys.pair
            and all_records.match_key = unusual_keys.match_key
        inner join settings
            on all_records.pair = settings.pair
        where not all_records.is_grouped
            and (
                (all_records.side = 'left' and unusual_keys.left_singles > 1)
                or (all_records.side = 'right' and unusual_keys.right_singles > 1)
            )
        window occurrences as (
            partition by all_records.pair, all_records.side, all_records.match_key
            order by all_records.occurred_at, all_records.record_key, all_records.origin,
                all_records.origin_line_number, all_records.pair_record_id
        )
    ) as occurrences

),

-- Inlined: a scan of all_records with the few repeated keys' occurrences joined,
-- cheaper each time than another copy of every record.
ranked as not materialized (

    select
        all_records.*,
        case when all_records.match_key is not null and not all_records.is_grouped then
            coalesce(repeated_occurrences.key_occurrence, 1)
        end as key_occurrence,
        coalesce(repeated_occurrences.is_key_duplicate, false) as is_key_duplicate

    from all_records
    left join repeated_occurrences
        on all_records.pair = repeated_occurrences.pair
        and all_records.pair_record_id = repeated_occurrences.pair_record_id

),

-- 2. The units each side brings: single records, and groups of a grouped side.
side_units as (

    select
        pair,
        side,
        pair_record_id as unit_key,
        match_key,
        false as is_group,
        is_key_duplicate as is_duplicate,
        coalesce(key_occurrence, 1) as key_occurrence,
        1 as record_count,
        array[record_key] as record_keys,
        amount,
        currency,
        occurred_at,
        record_status,
        normalized_status,
        customer_email,
        reference,
        attributes,
        near_key,
        is_stuck,
        carried_from_run_id,
        carried_outcome,
        case when carried_from_run_id is not null then abs(amount) else 0 end as carried_gross_amount

    from ranked
    where not is_grouped or match_key is null

    union all

    select
        pair,
        side,
        'group:' || match_key as unit_key,
        match_key,
        true as is_group,
        false as is_duplicate,
        1 as key_occurrence,
        count(*) as record_count,
        array_agg(record_key order by record_key) as record_keys,
        sum(amount) as amount,
        case when count(distinct currency) = 1 then min(currency) else 'mixed' end as currency,
        max(occurred_at) as occurred_at,
        case when count(distinct record_status) = 1 then min(record_status) end as record_status,
        case when count(distinct normalized_status) = 1 then min(normalized_status) end as normalized_status,
        case when count(distinct customer_email) = 1 then min(customer_email) end as customer_email,
        case when count(distinct reference) = 1 then min(reference) end as reference,
        cast('{}' as jsonb) as attributes,
        null as near_key,
        bool_or(is_stuck) as is_stuck,
        min(carried_from_run_id) as carried_from_run_id,
        min(carried_outcome) as carried_outcome,
        coalesce(sum(abs(amount)) filter (where carried_from_run_id is not null), 0) as carried_gross_amount

    from ranked
    where is_grouped and match_key is not null
    group by pair, side, match_key

),

-- Not materialized: a filtered scan of side_units, not a second copy of it.
-- Only a key's kept (first) unit takes part in the key match.
left_units as not materialized (

    select * from side_units where side = 'left' and key_occurrence = 1

),

right_units as not materialized (

    select * from side_units where side = 'right' and key_occurrence = 1

),

-- 3. Key match. Kept keys are unique per side, so this is one to one; the
-- matched units are built in this same join (matched_units, below), and what
-- it leaves is found by anti-joins on the key, never by joining back by id:
-- units without a key, units whose key the other side lacks (every record of a
-- repeated one), and the later records of a repeated key that are not copies.
unmatched_by_key as (

    select side_units.*
    from side_units
    where side_units.match_key is null and not side_units.is_duplicate

    union all

    select side_units.*
    from side_units
    inner join unusual_keys
        on side_units.pair = unusual_keys.pair
        and side_units.match_key = unusual_keys.match_key
    where not side_units.is_duplicate
        and (
            side_units.key_occurrence > 1
            or (side_units.side = 'left' and not unusual_keys.is_on_right)
            or (side_units.side = 'right' and not unusual_keys.is_on_left)
        )

),

-- 4. Near duplicates: an earlier kept record of the same side is close enough.
near_duplicates as (

    select distinct
        later.pair,
        later.unit_key

    from unmatched_by_key as later
    inner join settings
        on later.pair = settings.pair
    inner join ranked as earlier
        on later.pair = earlier.pair
        and later.side = earlier.side
        and later.near_key = earlier.near_key
        and later.currency = earlier.currency
    where not later.is_group
        and not earlier.is_grouped
        and not earlier.is_key_duplicate
        and earlier.pair_record_id <> later.unit_key
        and abs(later.amount - earlier.amount) <= settings.near_amount_tolerance
        and later.occurred_at - earlier.occurred_at <= settings.near_within
        and (earlier.occurred_at, earlier.record_key, earlier.pair_record_id)
            < (later.occurred_at, later.record_keys[1], later.unit_key)
        -- Decided once: without a near key among the lone units, every record need not be read.
        and exists (select from unmatched_by_key where near_key is not null)

),

fallback_pool as (

    select unmatched_by_key.*
    from unmatched_by_key
    where not exists (
        select from near_duplicates
        where near_duplicates.pair = unmatched_by_key.pair
            and near_duplicates.unit_key = unmatched_by_key.unit_key
    )

),

fallback_rules as (

    select
        settings.pair,
        rules.rule_order,
        rules.rule_name,
        rules.amount_tolerance,
        rules.time_drift_seconds,
        rules.reference_mode

    from settings
    cross join lateral jsonb_to_recordset(settings.fallback_rules) as rules (
        rule_order integer, rule_name text, amount_tolerance numeric,
        time_drift_seconds numeric, reference_mode text
    )

),

-- 5. Fallback candidates: every (left, right) pair some rule accepts, with its best rule.
-- Joined on an amount bucket, so candidates are found by hashing, not by comparing
-- every lone left unit with every lone right one: two amounts within a tolerance t > 0
-- have floor(amount / t) at most one apart, so each right unit stands in its own
-- bucket and the two beside it; with t = 0 the bucket is the amount itself.
left_candidates as (

    select
        fallback_pool.*,
        fallback_rules.rule_order,
        fallback_rules.rule_name,
        fallback_rules.amount_tolerance,
        fallback_rules.time_drift_seconds,
        fallback_rules.reference_mode,
        case
            when fallback_rules.amount_tolerance = 0 then fallback_pool.amount
            else floor(fallback_pool.amount / fallback_rules.amount_tolerance)
        end as amount_bucket

    from fallback_pool
    inner join fallback_rules
        on fallback_pool.pair = fallback_rules.pair
    where fallback_pool.side = 'left'

),

right_candidates as (

    select
        fallback_pool.*,
        fallback_rules.rule_order,
        case
            when fallback_rules.amount_tolerance = 0 then fallback_pool.amount
            else floor(fallback_pool.amount / fallback_rules.amount_tolerance) + neighbours.step
        end as amount_bucket

    from fallback_pool
    inner join fallback_rules
        on fallback_pool.pair = fallback_rules.pair
    cross join (values (-1), (0), (1)) as neighbours (step)
    where fallback_pool.side = 'right'
        and (fallback_rules.amount_tolerance > 0 or neighbours.step = 0)

),

candidate_edges as (

    select distinct on (left_pool.pair, left_pool.unit_key, right_pool.unit_key)
        left_pool.pair,
        left_pool.unit_key as left_unit,
        right_pool.unit_key as right_unit,
        left_pool.record_keys as left_record_keys,
        right_pool.record_keys as right_record_keys,
        left_pool.rule_order,
        left_pool.rule_name,
        abs(left_pool.amount - right_pool.amount) as amount_gap,
        abs(extract(epoch from left_pool.occurred_at - right_pool.occurred_at)) as time_gap

    from left_candidates as left_pool
    inner join right_candidates as right_pool
        on left_pool.pair = right_pool.pair
        and left_pool.rule_order = right_pool.rule_order
        and left_pool.currency = right_pool.currency
        and left_pool.amount_bucket = right_pool.amount_bucket
    where abs(left_pool.amount - right_pool.amount) <= left_pool.amount_tolerance
        and abs(extract(epoch from left_pool.occurred_at - right_pool.occurred_at))
            <= left_pool.time_drift_seconds
        and case left_pool.reference_mode
            when 'any' then true
            when 'equal' then left_pool.reference = right_pool.reference
            when 'close' then {{ recon_normalize_reference('left_pool.reference') }}
                = {{ recon_normalize_reference('right_pool.reference') }}
            when 'contains' then
                strpos({{ recon_normalize_reference('left_pool.reference') }},
                    {{ recon_normalize_reference('right_pool.reference') }}) > 0
                or strpos({{ recon_normalize_reference('right_pool.reference') }},
                    {{ recon_normalize_reference('left_pool.reference') }}) > 0
            else false
        end
    order by left_pool.pair, left_pool.unit_key, right_pool.unit_key, left_pool.rule_order

),

-- One to one, deterministically: in each round every unit picks its best
-- remaining candidate (earliest rule, closest amount, closest time, then keys),
-- and the pairs that pick each other are matched. Repeated, this assigns the
-- same pairs as taking candidates greedily in that order.
assigned_0 as (

    select pair, left_unit, right_unit, rule_name from candidate_edges where false

),

{% for round in range(1, rounds + 1) %}

round_{{ round }} as (

    select
        *,
        row_number() over (partition by pair, left_unit order by {{ edge_order }}) as left_choice,
        row_number() over (partition by pair, right_unit order by {{ edge_order }}) as right_choice

    from candidate_edges
    where not exists (
        select from assigned_{{ round - 1 }} as taken
        where taken.pair = candidate_edges.pair and taken.left_unit = candidate_edges.left_unit
    )
        and not exists (
            select from assigned_{{ round - 1 }} as taken
            where taken.pair = candidate_edges.pair and taken.right_unit = candidate_edges.right_unit
        )

),

assigned_{{ round }} as (

    select * from assigned_{{ round - 1 }}
    union all
    select pair, left_unit, right_unit, rule_name
    from round_{{ round }}
    where left_choice = 1 and right_choice = 1

),

{% endfor %}

fallback_assigned as (

    select pair, left_unit, right_unit, rule_name from assigned_{{ rounds }}

),

matched_units as (

{{ recon_matched_columns("cast('key' as text)") }}
    from left_units
    inner join right_units
        on left_units.pair = right_units.pair
        and left_units.match_key = right_units.match_key
    inner join settings on left_units.pair = settings.pair

    union all

{{ recon_matched_columns('fallback_assigned.rule_name') }}
    from fallback_assigned
    inner join settings on fallback_assigned.pair = settings.pair
    inner join fallback_pool as left_units
        on fallback_assigned.pair = left_units.pair and fallback_assigned.left_unit = left_units.unit_key
    inner join fallback_pool as right_units
        on fallback_assigned.pair = right_units.pair and fallback_assigned.right_unit = right_units.unit_key

),

classified_matches as (

    select
        *,
        case
            when is_stuck then 'stuck'
            when is_currency_different then 'currency_mismatch'
            when not is_amount_within_tolerance then
                case
                    when pair_kind = 'balances' then 'balance_mismatch'
                    when is_group then 'group_mismatch'
                    else 'amount_mismatch'
                end
            -- A record still in a transitional status inside its window: judged later.
            when is_held then 'pending'
            when is_status_different then 'status_mismatch'
            when cardinality(different_attributes) > 0 then 'attribute_mismatch'
            when is_late then 'late'
            when amount_difference <> 0 then 'matched_within_tolerance'
            else 'matched'
        end as outcome,
        array_remove(array[
            case when is_currency_different then 'currency' end,
            case when not is_currency_different and amount_difference <> 0 then 'amount' end,
            case when is_status_different then 'status' end,
            case when is_late then 'occurred_at' end
        ], null) || different_attributes as different_fields

    from matched_units

),

-- 6. Units still alone.
lone_units as (

    select
        side_units.*,
        settings.pair_kind,
        -- Held by a rule for any status of its side, or by one listing its status.
        case side_units.side
            when 'left' then settings.left_pending_within
            else settings.right_pending_within
        end as pending_within,
        {{ recon_held_in_status('side_units', 'side_units.side') }} as is_held,
        -- The other side is keyed on record_key: a quarantined row's key can stand for it.
        case side_units.side
            when 'left' then settings.right_keys = array['record_key']
            else settings.left_keys = array['record_key']
        end as is_other_side_keyed_on_record_key,
        case side_units.side when 'left' then settings.right_source else settings.left_source end
            as other_source,
        {{ sql_string_literal(var('window_end')) }}::timestamptz as window_end

    from (
        select * from side_units where is_duplicate
        union all
        select * from unmatched_by_key
        where not exists (
            select from fallback_assigned
            where fallback_assigned.pair = unmatched_by_key.pair
                and unmatched_by_key.side = 'left'
                and fallback_assigned.left_unit = unmatched_by_key.unit_key
        )
            and not exists (
                select from fallback_assigned
                where fallback_assigned.pair = unmatched_by_key.pair
                    and unmatched_by_key.side = 'right'
                    and fallback_assigned.right_unit = unmatched_by_key.unit_key
            )
    ) as side_units
    inner join settings on side_units.pair = settings.pair

),

classified_lone as (

    select
        lone_units.pair,
        case
            when lone_units.is_duplicate then 'duplicate'
            when near_duplicates.unit_key is not null then 'near_duplicate'
            when lone_units.is_stuck then 'stuck'
            when quarantined_keys.match_key is not null then 'unreadable'
            when lone_units.is_held then 'pending'
            when lone_units.pending_within > interval '0'
                and lone_units.occurred_at >= lone_units.window_end - lone_units.pending_within
                then 'pending'
            else 'missing'
        end as outcome,
        quarantined_keys.reason as quarantine_reason,
        lone_units.side,
        lone_units.pair_kind,
        lone_units.is_group,
        lone_units.unit_key,
        lone_units.carried_gross_amount,
        lone_units.key_occurrence,
        lone_units.match_key,
        lone_units.record_count,
        lone_units.record_keys,
        lone_units.amount,
        lone_units.currency,
        lone_units.occurred_at,
        lone_units.record_status,
        lone_units.customer_email,
        lone_units.reference,
        lone_units.carried_from_run_id,
        lone_units.side = 'left' and lone_units.carried_from_run_id is not null as is_left_carried,
        lone_units.side = 'right' and lone_units.carried_from_run_id is not null as is_right_carried,
        lone_units.carried_outcome

    from lone_units
    left join near_duplicates
        on lone_units.pair = near_duplicates.pair
        and lone_units.unit_key = near_duplicates.unit_key
    left join quarantined_match_keys as quarantined_keys
        on lone_units.pair = quarantined_keys.pair
        and lone_units.side = quarantined_keys.side
        and lone_units.match_key = quarantined_keys.match_key
        and lone_units.is_other_side_keyed_on_record_key
        and not lone_units.is_duplicate

),

-- The units of matched pairs that may come out `pending` (a side held in a
-- transitional status), found from the few held units, never from the matches:
-- the held unit and its counterpart by key or by a fallback rule.
held_units as (

    select side_units.*
    from side_units
    inner join settings
        on side_units.pair = settings.pair
    where not side_units.is_duplicate
        and {{ recon_held_in_status('side_units', 'side_units.side') }}
        -- Decided once: without a status-listing pending rule, side_units need not be read.
        and exists (
            select from settings
            where left_pending_statuses is not null or right_pending_statuses is not null
        )

),

held_pair_units as (

    select pair, side, unit_key, is_group, match_key from held_units

    union

    select partner.pair, partner.side, partner.unit_key, partner.is_group, partner.match_key
    from held_units as held
    inner join side_units as partner
        on held.pair = partner.pair
        and held.match_key = partner.match_key
    where held.key_occurrence = 1
        and partner.key_occurrence = 1
        and partner.side <> held.side
        and not partner.is_duplicate

    union

    select partner.pair, partner.side, partner.unit_key, partner.is_group, partner.match_key
    from held_units as held
    inner join fallback_assigned
        on held.pair = fallback_assigned.pair
        and held.unit_key = case held.side
            when 'left' then fallback_assigned.left_unit
            else fallback_assigned.right_unit
        end
    inner join side_units as partner
        on fallback_assigned.pair = partner.pair
        and partner.unit_key = case held.side
            when 'left' then fallback_assigned.right_unit
            else fallback_assigned.left_unit
        end
        and partner.side <> held.side

),

-- What the next run needs of a pending, unreadable or missing unit (both
-- sides of a pending pair): its records, whole. Built for these few units
-- only (jsonb for every record would cost seconds).
carry_units as (

    select pair, side, unit_key, is_group, match_key
    from classified_lone
    where outcome in ('pending', 'missing', 'unreadable')

    union all

    select pair, side, unit_key, is_group, match_key
    from held_pair_units

),

carried_records_out as (

    select pair, side, unit_key, jsonb_agg(record order by record ->> 'pair_record_id') as unit_records
    from (
        select carried.pair, carried.side, carried.unit_key,
            to_jsonb(ranked) - 'key_occurrence' - 'is_key_duplicate' as record
        from carry_units as carried
        inner join ranked
            on carried.pair = ranked.pair
            and carried.side = ranked.side
            and carried.unit_key = ranked.pair_record_id
        where not carried.is_group

        union all

        select carried.pair, carried.side, carried.unit_key,
            to_jsonb(ranked) - 'key_occurrence' - 'is_key_duplicate' as record
        from carry_units as carried
        inner join ranked
            on carried.pair = ranked.pair
            and carried.side = ranked.side
            and carried.match_key = ranked.match_key
        where carried.is_group and ranked.is_grouped
    ) as carried_records
    group by pair, side, unit_key

),

-- 7. Every unit in one shape.
units as (

    select
        classified_matches.pair,
        pair_kind,
        outcome,
        rule,
        cast(null as text) as present_side,
        is_group,
        key_occurrence,
        match_key,
        left_record_count,
        right_record_count,
        left_record_keys,
        right_record_keys,
        left_amount,
        right_amount,
        left_currency,
        right_currency,
        amount_difference,
        left_occurred_at,
        right_occurred_at,
        time_difference_seconds,
        left_status,
        right_status,
        different_fields,
        customer_email,
        reference,
        carried_from_run_id,
        is_left_carried,
        is_right_carried,
        carried_outcome,
        left_carried_gross_amount,
        right_carried_gross_amount,
        case
            when outcome in ('matched', 'matched_within_tolerance', 'late', 'attribute_mismatch') then 0
            when outcome in ('amount_mismatch', 'group_mismatch', 'balance_mismatch') then abs(amount_difference)
            else abs(left_amount)
        end as discrepancy_amount,
        cast(null as text) as quarantine_reason,
        -- A pending pair carries both sides' records, to be judged again.
        case when outcome = 'pending' then carried_left.unit_records || carried_right.unit_records end
            as unit_records,
        -- Keys are unique among matched units once the match key is added.
        1 as identity_occurrence

    from classified_matches
    left join carried_records_out as carried_left
        on classified_matches.pair = carried_left.pair
        and carried_left.side = 'left'
        and classified_matches.left_unit = carried_left.unit_key
    left join carried_records_out as carried_right
        on classified_matches.pair = carried_right.pair
        and carried_right.side = 'right'
        and classified_matches.right_unit = carried_right.unit_key

    union all

    select
        classified_lone.pair,
        pair_kind,
        outcome,
        cast(null as text) as rule,
        classified_lone.side as present_side,
        is_group,
        key_occurrence,
        match_key,
        case when classified_lone.side = 'left' then record_count else 0 end as left_record_count,
        case when classified_lone.side = 'right' then record_count else 0 end as right_record_count,
        case when classified_lone.side = 'left' then record_keys end as left_record_keys,
        case when classified_lone.side = 'right' then record_keys end as right_record_keys,
        case when classified_lone.side = 'left' then amount end as left_amount,
        case when classified_lone.side = 'right' then amount end as right_amount,
        case when classified_lone.side = 'left' then currency end as left_currency,
        case when classified_lone.side = 'right' then currency end as right_currency,
        null as amount_difference,
        case when classified_lone.side = 'left' then occurred_at end as left_occurred_at,
        case when classified_lone.side = 'right' then occurred_at end as right_occurred_at,
        null as time_difference_seconds,
        case when classified_lone.side = 'left' then record_status end as left_status,
        case when classified_lone.side = 'right' then record_status end as right_status,
        cast(array[] as text[]) as different_fields,
        customer_email,
        reference,
        carried_from_run_id,
        is_left_carried,
        is_right_carried,
        carried_outcome,
        case when classified_lone.side = 'left' then carried_gross_amount else 0 end as left_carried_gross_amount,
        case when classified_lone.side = 'right' then carried_gross_amount else 0 end as right_carried_gross_amount,
        abs(classified_lone.amount) as discrepancy_amount,
        classified_lone.quarantine_reason,
        carried_records_out.unit_records,
        -- Lone units can share class and keys (a key repeated three times, a record key
        -- repeated in a source keyed on another field): told apart by their order in time.
        row_number() over (
            partition by classified_lone.pair, classified_lone.outcome, classified_lone.side,
                classified_lone.record_keys, classified_lone.match_key
            order by classified_lone.occurred_at, classified_lone.unit_key
        ) as identity_occurrence

    from classified_lone
    left join carried_records_out
        on classified_lone.pair = carried_records_out.pair
        and classified_lone.side = carried_records_out.side
        and classified_lone.unit_key = carried_records_out.unit_key

),

final as (

    select
        {{ run_id }} as run_id,
        cast({{ sql_string_literal(var('spec')) }} as text) as spec,
        cast({{ sql_string_literal(var('window_start')) }} as timestamptz) as window_start,
        cast({{ sql_string_literal(var('window_end')) }} as timestamptz) as window_end,
        units.pair,
        units.pair_kind,
        settings.left_source,
        settings.right_source,
        units.outcome,
        units.outcome not in ('matched', 'matched_within_tolerance', 'pending') as is_break,
        units.rule,
        case units.present_side
            when 'left' then settings.right_source
            when 'right' then settings.left_source
        end as missing_in,
        units.is_group,
        units.match_key,
        units.left_record_keys,
        units.right_record_keys,
        units.left_record_count,
        units.right_record_count,
        units.left_amount,
        units.right_amount,
        units.left_currency,
        units.right_currency,
        coalesce(units.left_currency, units.right_currency) as currency,
        units.amount_difference,
        units.discrepancy_amount,
        units.left_occurred_at,
        units.right_occurred_at,
        units.time_difference_seconds,
        units.left_status,
        units.right_status,
        units.different_fields,
        units.customer_email,
        units.reference,
        units.carried_from_run_id,
        units.is_left_carried,
        units.is_right_carried,
        units.quarantine_reason,
        units.left_carried_gross_amount,
        units.right_carried_gross_amount,
        -- A record still missing as it was in the run it came from is an open
        -- break seen again, not a new discrepancy of this run.
        coalesce(units.carried_outcome = units.outcome and units.outcome in ('missing', 'unreadable'), false)
            as is_carried_break,
        -- Stable across runs: the same discrepancy gets the same id.
        md5(concat_ws('|', {{ sql_string_literal(var('spec')) }}, units.pair, units.outcome,
            coalesce(array_to_string(units.left_record_keys, ','), ''),
            coalesce(array_to_string(units.right_record_keys, ','), ''),
            coalesce(units.match_key, ''), units.identity_occurrence)) as unit_id,
        case when units.outcome in ('pending', 'missing', 'unreadable') then units.unit_records end
            as carry_records,
        cast('{{ run_started_at.isoformat() }}' as timestamptz) as matched_at

    from units
    inner join settings on units.pair = settings.pair

)

select * from final
