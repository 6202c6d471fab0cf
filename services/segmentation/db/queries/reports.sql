-- name: MemberSince :one
SELECT entered_at FROM memberships WHERE segment_id = $1 AND customer_id = $2;

-- name: RecordAllSizes :exec
INSERT INTO segment_sizes (segment_id, at, size) SELECT segment_id, sqlc.arg(at)::timestamptz, size FROM segments
ON CONFLICT DO NOTHING;

-- name: SegmentSizeBuckets :many
-- A segment's measured sizes in UTC buckets ('day', 'week' from Monday,
-- 'month'): the last, smallest and largest size measured in each.
SELECT date_trunc(sqlc.arg(unit)::text, at, 'UTC')::timestamptz AS period_start,
       (array_agg(size ORDER BY at DESC))[1]::bigint AS size,
       min(size)::bigint AS min_size, max(size)::bigint AS max_size, max(at)::timestamptz AS measured_at
FROM segment_sizes
WHERE segment_id = sqlc.arg(segment_id) AND at >= sqlc.arg(start_time)::timestamptz AND at < sqlc.arg(end_time)::timestamptz
GROUP BY 1 ORDER BY 1;

-- name: RFMGridCells :many
-- The customers of the given scoring run per recency x frequency cell with
-- their average net spend (rounded to minor units).
SELECT rfm_r, rfm_f, count(*)::bigint AS customers, round(avg(total_spend))::bigint AS average_monetary
FROM profiles WHERE rfm_scored_at = sqlc.arg(scored_at)::timestamptz AND rfm_r > 0
GROUP BY rfm_r, rfm_f ORDER BY rfm_r, rfm_f;

-- name: RFMGridGroups :many
SELECT rfm_group, count(*)::bigint AS customers
FROM profiles WHERE rfm_scored_at = sqlc.arg(scored_at)::timestamptz AND rfm_r > 0
GROUP BY rfm_group ORDER BY rfm_group;

-- name: PopulationTotals :one
-- Figures now, in the reporting currency (formulas in docs/segmentation.md).
WITH o AS MATERIALIZED (SELECT customer_id, net FROM stats_orders WHERE currency = sqlc.arg(currency)::text),
per AS (SELECT customer_id, count(*) AS n FROM o GROUP BY customer_id)
SELECT (SELECT count(*) FROM profiles)::bigint AS customers,
       (SELECT count(*) FROM per)::bigint AS buyers,
       (SELECT count(*) FROM per WHERE n >= 2)::bigint AS repeat_buyers,
       (SELECT count(DISTINCT a.customer_id) FROM stats_activity a
        WHERE a.at > sqlc.arg(now)::timestamptz - interval '30 days' AND a.at <= sqlc.arg(now)::timestamptz)::bigint AS active_30d,
       (SELECT count(*) FROM o)::bigint AS orders,
       (SELECT COALESCE(sum(net), 0) FROM o)::bigint AS revenue;

-- name: PopulationPeriods :many
-- One row per UTC period ('day', 'week' from Monday, 'month') from the
-- period containing start_time until end_time (the last period is cut at
-- end_time). A customer "counts" at a moment t when they have a counted
-- order in [t - 365 days, t). Set-based, one pass over the orders: every
-- dated mark (order, first and second order of a customer, start and end
-- of a customer's counting spell) is counted per period, and the figures
-- "as of" a period boundary are running sums over the periods. A spell
-- ("island") is a run of a customer's orders less than 365 days apart;
-- the customer counts at t when from_at < t <= until_at, so the customers
-- counting at t are #(from_at < t) - #(until_at < t).
WITH periods AS MATERIALIZED (
    SELECT (p AT TIME ZONE 'UTC') AS ps,
           LEAST(((p + ('1 ' || sqlc.arg(unit)::text)::interval) AT TIME ZONE 'UTC'), sqlc.arg(end_time)::timestamptz) AS pe
    FROM generate_series(date_trunc(sqlc.arg(unit)::text, sqlc.arg(start_time)::timestamptz AT TIME ZONE 'UTC'),
                         (sqlc.arg(end_time)::timestamptz AT TIME ZONE 'UTC') - interval '1 microsecond',
                         ('1 ' || sqlc.arg(unit)::text)::interval) p
),
o AS MATERIALIZED (
    SELECT customer_id, placed_at, net,
           row_number() OVER w AS n,
           placed_at - lag(placed_at) OVER w AS gap
    FROM stats_orders
    WHERE currency = sqlc.arg(currency)::text AND placed_at < sqlc.arg(end_time)::timestamptz
    WINDOW w AS (PARTITION BY customer_id ORDER BY placed_at, order_id)
),
islands AS (
    SELECT min(placed_at) AS from_at, max(placed_at) + interval '365 days' AS until_at
    FROM (SELECT customer_id, placed_at,
                 count(*) FILTER (WHERE gap IS NULL OR gap > interval '365 days') OVER (PARTITION BY customer_id ORDER BY n) AS island
          FROM o) x
    GROUP BY customer_id, island
),
marks AS (
    SELECT 1 AS kind, placed_at AS at, net AS v FROM o
    UNION ALL SELECT 2, placed_at, 0 FROM o WHERE n = 1
    UNION ALL SELECT 3, placed_at, 0 FROM o WHERE n = 2
    UNION ALL SELECT 4, from_at, 0 FROM islands
    UNION ALL SELECT 5, until_at, 0 FROM islands
),
counts AS (
    -- ps is NULL for marks before the first period (the base of the running sums).
    SELECT CASE WHEN m.at < (SELECT min(ps) FROM periods) THEN NULL
                ELSE date_trunc(sqlc.arg(unit)::text, m.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' END AS ps,
           count(*) FILTER (WHERE kind = 1) AS orders,
           COALESCE(sum(v) FILTER (WHERE kind = 1), 0) AS revenue,
           count(*) FILTER (WHERE kind = 2) AS firsts,
           count(*) FILTER (WHERE kind = 3) AS seconds,
           count(*) FILTER (WHERE kind = 4) AS froms,
           count(*) FILTER (WHERE kind = 5) AS untils
    FROM marks m WHERE m.at < sqlc.arg(end_time)::timestamptz
    GROUP BY 1
),
base AS (
    SELECT COALESCE(sum(firsts), 0) AS firsts, COALESCE(sum(seconds), 0) AS seconds,
           COALESCE(sum(froms), 0) - COALESCE(sum(untils), 0) AS counting
    FROM counts WHERE ps IS NULL
),
act AS (
    SELECT date_trunc(sqlc.arg(unit)::text, a.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS ps, count(DISTINCT a.customer_id) AS n
    FROM stats_activity a
    WHERE a.at >= (SELECT min(ps) FROM periods) AND a.at < sqlc.arg(end_time)::timestamptz
    GROUP BY 1
),
running AS (
    SELECT p.ps, p.pe,
           COALESCE(c.orders, 0) AS orders, COALESCE(c.revenue, 0) AS revenue, COALESCE(c.firsts, 0) AS firsts,
           COALESCE(a.n, 0) AS active,
           b.firsts + sum(COALESCE(c.firsts, 0)) OVER w AS buyers_by_end,
           b.seconds + sum(COALESCE(c.seconds, 0)) OVER w AS repeat_by_end,
           b.counting + sum(COALESCE(c.froms, 0) - COALESCE(c.untils, 0)) OVER w AS counting_at_end
    FROM periods p CROSS JOIN base b
    LEFT JOIN counts c ON c.ps = p.ps
    LEFT JOIN act a ON a.ps = p.ps
    WINDOW w AS (ORDER BY p.ps)
)
SELECT ps::timestamptz AS period_start, pe::timestamptz AS period_end,
       COALESCE(lag(counting_at_end) OVER (ORDER BY ps), (SELECT counting FROM base))::bigint AS customers_at_start,
       firsts::bigint AS new_customers,
       counting_at_end::bigint AS customers_at_end,
       active::bigint AS active_customers,
       orders::bigint AS orders,
       revenue::bigint AS revenue,
       buyers_by_end::bigint AS buyers_by_end,
       repeat_by_end::bigint AS repeat_buyers_by_end
FROM running ORDER BY ps;

-- name: ClaimPassNow :execrows
-- Claims a scheduled pass for an on-demand run: unlike the schedule's claim
-- (RunScheduled) it ignores how recently the pass ran, but never starts
-- while a run is in progress (unless that run is older than stale_seconds,
-- a crashed replica's). Call under the pass's advisory lock.
INSERT INTO scheduler_runs AS r (name, started_at, runs) VALUES (sqlc.arg(name), now(), 1)
ON CONFLICT (name) DO UPDATE SET started_at = now(), runs = r.runs + 1
WHERE r.finished_at >= r.started_at OR r.started_at <= now() - sqlc.arg(stale_seconds)::float8 * interval '1 second';

-- name: FinishPass :exec
UPDATE scheduler_runs SET finished_at = now(), last_error = sqlc.arg(last_error) WHERE name = sqlc.arg(name);

-- name: TryPassLock :one
SELECT pg_try_advisory_xact_lock(sqlc.arg(class)::int, hashtext(sqlc.arg(name)::text));

-- name: LockStatsSync :one
SELECT horizon::text AS horizon FROM stats_sync FOR UPDATE;

-- name: StatsHorizonNow :one
SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon;

-- name: DeleteStatsOrders :execrows
DELETE FROM stats_orders WHERE customer_id IN (SELECT customer_id FROM profiles WHERE changed_xid >= sqlc.arg(horizon)::text::xid8);

-- name: DeleteStatsActivity :exec
DELETE FROM stats_activity WHERE customer_id IN (SELECT customer_id FROM profiles WHERE changed_xid >= sqlc.arg(horizon)::text::xid8);

-- name: InsertStatsOrders :execrows
INSERT INTO stats_orders (customer_id, order_id, placed_at, currency, net)
SELECT customer_id, order_id, placed_at, currency, net FROM counted_orders
WHERE customer_id IN (SELECT customer_id FROM profiles WHERE changed_xid >= sqlc.arg(horizon)::text::xid8);

-- name: InsertStatsActivity :exec
INSERT INTO stats_activity (customer_id, at)
SELECT customer_id, at FROM customer_activity
WHERE customer_id IN (SELECT customer_id FROM profiles WHERE changed_xid >= sqlc.arg(horizon)::text::xid8);

-- name: SetStatsHorizon :exec
UPDATE stats_sync SET horizon = sqlc.arg(horizon)::text::xid8;
