{{ recon_require_run_vars() }}

{#- One row per record of the run, per pair side, that an earlier run already
    reconciled as it is now. With a window overlap (the spec's window_overlap,
    var window_overlap_seconds) a run reads its sources from that long before
    its window, so a record that reached a source late is still seen; the
    records the run before it read in that margin come again, and the earlier
    run's outcome stands for them: int_records_matched leaves them out (a
    pending or missing one is carried in from that run anyway). A record that
    is new or changed since is reconciled, and with it every record sharing its
    match key in the pair.
    The earlier runs are the spec's published runs whose windows reach into
    the margin; they are looked up first, so each run's staging partitions are
    pruned by literal run ids. Without an overlap the model is empty. -#}

{%- set run_id = sql_string_literal(var('run_id')) -%}
{%- set overlap_seconds = var('window_overlap_seconds', 0) | int -%}
{%- set earlier_run_ids = [] -%}
{%- if execute and overlap_seconds > 0 -%}
    {%- set window_start = "cast(" ~ sql_string_literal(var('window_start')) ~ " as timestamptz)" -%}
    {%- set found = run_query(
        "select run_id from " ~ source('reconciliation_pipeline', 'runs')
        ~ " where spec = " ~ sql_string_literal(var('spec'))
        ~ " and status in ('success', 'discrepancy_found')"
        ~ " and window_start < " ~ window_start
        ~ " and window_end > " ~ window_start ~ " - interval '" ~ overlap_seconds ~ " seconds'"
        ~ " order by run_id"
    ) -%}
    {%- set earlier_run_ids = found.columns[0].values() -%}
{%- endif %}

with

-- Identical rows are told apart by their order, so an earlier run that saw a
-- row once answers for one of its copies only.
records as (

    select
        *,
        row_number() over (
            partition by pair, side, record_key, amount, currency, occurred_at, record_status,
            customer_email, reference, group_key, attributes
            order by pair_record_id
        ) as occurrence

    from {{ ref('int_records_paired') }}
    where run_id = {{ run_id }}

),

{% if earlier_run_ids %}

earlier_records as (

    select
        *,
        row_number() over (
            partition by run_id, pair, side, record_key, amount, currency, occurred_at, record_status,
            customer_email, reference, group_key, attributes
            order by pair_record_id
        ) as occurrence

    from {{ ref('int_records_paired') }}
    where run_id in (
        {%- for earlier in earlier_run_ids %}{{ sql_string_literal(earlier) }}{{ ", " if not loop.last }}{% endfor -%}
    )

),

-- Each record of the run, with the latest earlier run that read it as it is now.
seen as (

    select distinct on (records.pair, records.side, records.pair_record_id)
        records.*,
        earlier_records.run_id as earlier_run_id

    from records
    left join earlier_records
        on records.pair = earlier_records.pair
        and records.side = earlier_records.side
        and records.source_name = earlier_records.source_name
        and records.record_key = earlier_records.record_key
        and records.occurrence = earlier_records.occurrence
        and (
            records.amount, records.currency, records.occurred_at, records.record_status,
            records.customer_email, records.reference, records.group_key, records.attributes
        ) is not distinct from (
            earlier_records.amount, earlier_records.currency, earlier_records.occurred_at,
            earlier_records.record_status, earlier_records.customer_email, earlier_records.reference,
            earlier_records.group_key, earlier_records.attributes
        )
    order by records.pair, records.side, records.pair_record_id, earlier_records.window_end desc nulls last

),

{% else %}

-- No earlier run reaches into the margin (or no margin): nothing was seen.
seen as (

    select
        *,
        cast(null as text) as earlier_run_id

    from {{ ref('int_records_paired') }}
    where false

),

{% endif %}

-- Match keys with a record that is new or changed: every record of such a key
-- is reconciled again, so a changed amount meets its counterpart and a new
-- copy of a matched key is found as a duplicate, not as missing.
keys_with_news as (

    select distinct pair, match_key
    from seen
    where earlier_run_id is null and match_key is not null

),

reconciled_earlier as (

    select
        run_id,
        spec,
        window_start,
        window_end,
        pair,
        side,
        source_name,
        pair_record_id,
        record_key,
        earlier_run_id

    from seen
    where earlier_run_id is not null
        and not exists (
            select from keys_with_news
            where keys_with_news.pair = seen.pair
                and keys_with_news.match_key = seen.match_key
        )

)

select * from reconciled_earlier
