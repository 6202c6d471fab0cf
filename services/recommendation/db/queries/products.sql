-- name: LockProducts :exec
-- Serializes catalog writers so product seq order is commit order.
SELECT pg_advisory_xact_lock(727001);

-- name: UpsertProduct :one
INSERT INTO products (product_id, sku, title, category_path, price_minor, currency, margin_minor, stock, brand, tags, kind, url, image_url, updated_at, seq)
VALUES (@product_id, @sku, @title, @category_path, @price_minor, @currency, @margin_minor, @stock, @brand, @tags, @kind, @url, @image_url, @updated_at, nextval('product_seq'))
ON CONFLICT (product_id) DO UPDATE SET
    sku = EXCLUDED.sku, title = EXCLUDED.title, category_path = EXCLUDED.category_path,
    price_minor = EXCLUDED.price_minor, currency = EXCLUDED.currency, margin_minor = EXCLUDED.margin_minor,
    stock = EXCLUDED.stock, brand = EXCLUDED.brand, tags = EXCLUDED.tags, kind = EXCLUDED.kind,
    url = EXCLUDED.url, image_url = EXCLUDED.image_url, updated_at = EXCLUDED.updated_at, seq = EXCLUDED.seq
WHERE products.updated_at <= EXCLUDED.updated_at
RETURNING (xmax = 0)::boolean AS created;

-- name: ProductsAfter :many
SELECT * FROM products WHERE seq > @after ORDER BY seq LIMIT @max_rows;
