-- name: LockBaskets :exec
-- Serializes basket writers so seq order is commit order and every replica
-- tailing the table folds baskets in the same order.
SELECT pg_advisory_xact_lock(727002);

-- name: InsertBasket :exec
INSERT INTO baskets (order_id, customer_id, items, history, weight, occurred_at)
VALUES (@order_id, @customer_id, @items, @history, @weight, @occurred_at);

-- name: BasketsAfter :many
SELECT * FROM baskets WHERE seq > @after ORDER BY seq LIMIT @max_rows;

-- name: InsertOrderLine :execrows
INSERT INTO order_lines (order_id, line_id, sku, product_id, quantity)
VALUES (@order_id, @line_id, @sku, @product_id, @quantity)
ON CONFLICT DO NOTHING;

-- name: OrderLines :many
SELECT * FROM order_lines WHERE order_id = @order_id ORDER BY line_id FOR UPDATE;

-- name: RefundOrderLine :exec
UPDATE order_lines SET refunded = LEAST(quantity, refunded + @quantity)
WHERE order_id = @order_id AND line_id = @line_id;

-- name: PurchaseHistory :many
-- The customer's earlier purchased items, newest first.
SELECT product_id FROM interactions
WHERE customer_id = @customer_id AND kind = 5
GROUP BY product_id ORDER BY max(occurred_at) DESC, product_id LIMIT @max_rows;

-- name: BasketOfOrder :many
-- The basket an order added, to take it back exactly on a full refund.
SELECT items, history FROM baskets WHERE order_id = @order_id AND weight > 0 ORDER BY seq LIMIT 1;

-- name: ConsumableBuyers :many
-- Customers who bought a consumable, paged by id, for the replenishment scan.
SELECT DISTINCT i.customer_id FROM interactions i JOIN products p ON p.product_id = i.product_id
WHERE i.kind = 5 AND p.kind = 2 AND i.customer_id > @after ORDER BY i.customer_id LIMIT @max_rows;

-- name: MarkReplenishmentSent :execrows
INSERT INTO replenishment_sent (key, customer_id, sent_at) VALUES (@key, @customer_id, @sent_at) ON CONFLICT DO NOTHING;
