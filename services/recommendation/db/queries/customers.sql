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

-- name: CustomerState :many
-- A customer's newest interactions with their segments and tier in one
-- round trip: it runs on every request whose customer is not cached. A
-- customer without interactions gets one row with an empty product id.
WITH m AS (
    SELECT
        coalesce((SELECT array_agg(segment_id ORDER BY segment_id) FROM customer_segments s WHERE s.customer_id = @customer_id AND s.member), '{}')::text[] AS segments,
        coalesce((SELECT tier_id FROM customer_tiers t WHERE t.customer_id = @customer_id), '')::text AS tier
)
SELECT m.segments, m.tier,
    coalesce(i.product_id, '')::text AS product_id, coalesce(i.kind, 0)::smallint AS kind,
    coalesce(i.quantity, 0)::integer AS quantity, coalesce(i.order_id, '')::text AS order_id,
    coalesce(i.occurred_at, 'epoch')::timestamptz AS occurred_at
FROM m LEFT JOIN LATERAL (
    SELECT x.product_id, x.kind, x.quantity, x.order_id, x.occurred_at, x.id FROM interactions x
    WHERE x.customer_id = @customer_id ORDER BY x.occurred_at DESC, x.id DESC LIMIT @max_rows
) i ON true
ORDER BY i.occurred_at DESC, i.id DESC;

-- name: CopyInteractions :exec
-- Carries an anonymous visitor's interactions over to the customer they
-- turned out to be.
INSERT INTO interactions (customer_id, product_id, kind, quantity, order_id, occurred_at)
SELECT @customer_id, x.product_id, x.kind, x.quantity, x.order_id, x.occurred_at
FROM interactions x WHERE x.customer_id = ANY(@from_keys::text[])
ON CONFLICT DO NOTHING;

-- name: DeleteInteractions :exec
DELETE FROM interactions WHERE customer_id = ANY(@keys::text[]);
