-- name: GetCustomer :one
SELECT * FROM customers WHERE customer_id = $1;

-- name: UpsertCustomerIdentity :exec
INSERT INTO customers (customer_id, customer_since, email_hash, phone_hash, device_ids)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (customer_id) DO UPDATE
SET customer_since = coalesce(customers.customer_since, excluded.customer_since),
    email_hash = excluded.email_hash,
    phone_hash = excluded.phone_hash,
    device_ids = ARRAY(SELECT DISTINCT unnest(customers.device_ids || excluded.device_ids) ORDER BY 1);

-- name: EraseCustomer :exec
UPDATE customers SET email_hash = '', phone_hash = '', device_ids = '{}' WHERE customer_id = $1;

-- name: AddCustomerSegment :exec
INSERT INTO customers (customer_id, segments) VALUES ($1, ARRAY[sqlc.arg(segment)::text])
ON CONFLICT (customer_id) DO UPDATE
SET segments = ARRAY(SELECT DISTINCT unnest(customers.segments || ARRAY[sqlc.arg(segment)::text]) ORDER BY 1);

-- name: RemoveCustomerSegment :exec
UPDATE customers SET segments = array_remove(segments, sqlc.arg(segment)::text) WHERE customer_id = $1;

-- name: SetCustomerTier :exec
INSERT INTO customers (customer_id, tier) VALUES ($1, $2)
ON CONFLICT (customer_id) DO UPDATE SET tier = excluded.tier;

-- name: CountOrdersBefore :one
SELECT count(*)::int FROM orders WHERE customer_id = $1 AND placed_at < $2;

-- name: CountOrders :one
SELECT count(*)::int FROM orders WHERE customer_id = $1;

-- name: AddRefund :one
-- Adds a refund once per refund id and returns the order's refunded total.
WITH ins AS (
    INSERT INTO order_refunds (order_id, refund_id) VALUES (sqlc.arg(order_id), sqlc.arg(refund_id))
    ON CONFLICT DO NOTHING RETURNING 1
)
UPDATE orders SET refunded_minor = refunded_minor + CASE WHEN EXISTS (SELECT 1 FROM ins) THEN sqlc.arg(amount)::bigint ELSE 0 END
WHERE orders.order_id = sqlc.arg(order_id)
RETURNING refunded_minor;
