-- name: InsertInteraction :exec
INSERT INTO interactions (customer_id, product_id, kind, quantity, order_id, occurred_at)
VALUES (@customer_id, @product_id, @kind, @quantity, @order_id, @occurred_at)
ON CONFLICT DO NOTHING;

-- name: RecentInteractions :many
SELECT customer_id, product_id, kind, quantity, order_id, occurred_at FROM interactions
WHERE customer_id = @customer_id ORDER BY occurred_at DESC, id DESC LIMIT @max_rows;

-- name: SetSegment :exec
INSERT INTO customer_segments (customer_id, segment_id, member, changed_at)
VALUES (@customer_id, @segment_id, @member, @changed_at)
ON CONFLICT (customer_id, segment_id) DO UPDATE SET member = EXCLUDED.member, changed_at = EXCLUDED.changed_at
WHERE customer_segments.changed_at <= EXCLUDED.changed_at;

-- name: SegmentMembers :many
SELECT customer_id FROM customer_segments WHERE segment_id = @segment_id AND member AND customer_id > @after
ORDER BY customer_id LIMIT @max_rows;

-- name: SetTier :exec
INSERT INTO customer_tiers (customer_id, tier_id, changed_at)
VALUES (@customer_id, @tier_id, @changed_at)
ON CONFLICT (customer_id) DO UPDATE SET tier_id = EXCLUDED.tier_id, changed_at = EXCLUDED.changed_at
WHERE customer_tiers.changed_at <= EXCLUDED.changed_at;


-- name: InsertFeedback :exec
INSERT INTO feedback (recommendation_id, customer_id, product_id, kind, position, placement, experiment_id, variant, occurred_at)
VALUES (@recommendation_id, @customer_id, @product_id, @kind, @position, @placement, @experiment_id, @variant, @occurred_at);

-- name: ExperimentCounts :many
-- Feedback per variant: kind 1 impression, 2 click, 3 add to cart, 4 purchase.
SELECT variant,
       count(*) FILTER (WHERE kind = 1)::bigint AS impressions,
       count(*) FILTER (WHERE kind = 2)::bigint AS clicks,
       count(*) FILTER (WHERE kind IN (3, 4))::bigint AS conversions
FROM feedback WHERE experiment_id = @experiment_id GROUP BY variant ORDER BY variant;

-- name: CopyInteractions :exec
-- Carries an anonymous visitor's interactions over to the customer they
-- turned out to be.
INSERT INTO interactions (customer_id, product_id, kind, quantity, order_id, occurred_at)
SELECT @customer_id, x.product_id, x.kind, x.quantity, x.order_id, x.occurred_at
FROM interactions x WHERE x.customer_id = ANY(@from_keys::text[])
ON CONFLICT DO NOTHING;

-- name: DeleteInteractions :exec
DELETE FROM interactions WHERE customer_id = ANY(@keys::text[]);

-- name: TouchCustomers :exec
-- Marks customers changed; callers hold the basket writers' lock, so seq
-- order is commit order.
INSERT INTO customer_changes (customer_id, seq)
SELECT d.customer_id, nextval('customer_change_seq') FROM (SELECT DISTINCT unnest(@customer_ids::text[]) AS customer_id) d
ON CONFLICT (customer_id) DO UPDATE SET seq = EXCLUDED.seq;

-- name: CustomerChangesAfter :many
SELECT customer_id, seq FROM customer_changes WHERE seq > @after ORDER BY seq LIMIT @max_rows;

-- name: CustomerChangeWatermark :one
SELECT coalesce(max(seq), 0)::bigint AS seq FROM customer_changes;

-- name: CustomerKeys :many
-- Every customer key with any stored state, read once at start. One scan
-- of each table: paging with customer_id > $1 got generic plans that
-- scanned the whole table per page.
SELECT i.customer_id FROM interactions i
UNION SELECT s.customer_id FROM customer_segments s WHERE s.member
UNION SELECT t.customer_id FROM customer_tiers t WHERE t.tier_id <> '';

-- name: InteractionsOfCustomers :many
-- The newest max_rows interactions of each of the customers, newest first,
-- each customer read on its own index range.
SELECT c.customer_id::text AS customer_id, i.product_id, i.kind, i.quantity, i.order_id, i.occurred_at
FROM unnest(@customer_ids::text[]) AS c(customer_id)
CROSS JOIN LATERAL (
    SELECT x.product_id, x.kind, x.quantity, x.order_id, x.occurred_at, x.id FROM interactions x
    WHERE x.customer_id = c.customer_id ORDER BY x.occurred_at DESC, x.id DESC LIMIT @max_rows
) i
ORDER BY c.customer_id, i.occurred_at DESC, i.id DESC;

-- name: SegmentsOfCustomers :many
SELECT customer_id, segment_id FROM customer_segments
WHERE customer_id = ANY(@customer_ids::text[]) AND member ORDER BY customer_id, segment_id;

-- name: TiersOfCustomers :many
SELECT customer_id, tier_id FROM customer_tiers WHERE customer_id = ANY(@customer_ids::text[]) AND tier_id <> '';

-- name: OwnedOfCustomers :many
-- The products each customer still owns over ALL stored purchases (kind 5)
-- and refunds (kind 6): units bought minus units refunded is positive. The
-- serving state keeps only the newest interactions, so the "no repeat
-- purchase of an owned durable" rule reads this instead.
SELECT x.customer_id, x.product_id FROM interactions x
WHERE x.customer_id = ANY(@customer_ids::text[]) AND x.kind IN (5, 6)
GROUP BY x.customer_id, x.product_id
HAVING sum(CASE WHEN x.kind = 5 THEN greatest(x.quantity, 1) ELSE -greatest(x.quantity, 1) END) > 0
ORDER BY x.customer_id, x.product_id;
