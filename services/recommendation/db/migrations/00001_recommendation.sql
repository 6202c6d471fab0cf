-- +goose Up

-- The catalog replica. seq is taken from product_seq under an advisory lock
-- on every change, so every replica can tail the table in commit order and
-- keep its in-memory index current.
CREATE SEQUENCE product_seq;
CREATE TABLE products (
    product_id    text PRIMARY KEY,
    sku           text NOT NULL DEFAULT '',
    title         text NOT NULL DEFAULT '',
    category_path text[] NOT NULL DEFAULT '{}',
    price_minor   bigint NOT NULL DEFAULT 0,
    currency      text NOT NULL DEFAULT '',
    margin_minor  bigint,
    stock         smallint NOT NULL DEFAULT 0,
    brand         text NOT NULL DEFAULT '',
    tags          text[] NOT NULL DEFAULT '{}',
    kind          smallint NOT NULL DEFAULT 0,
    url           text NOT NULL DEFAULT '',
    image_url     text NOT NULL DEFAULT '',
    updated_at    timestamptz NOT NULL,
    seq           bigint NOT NULL
);
CREATE INDEX products_seq ON products (seq);

-- Every basket folded into the co-occurrence model, in the order it was
-- folded: weight 1 for an order, -1 for a full refund or cancellation.
-- history is the customer's earlier items at ingest time (newest first), so
-- a replay after a restart rebuilds exactly the same model.
CREATE TABLE baskets (
    seq         bigserial PRIMARY KEY,
    order_id    text NOT NULL,
    customer_id text NOT NULL,
    items       text[] NOT NULL,
    history     text[] NOT NULL DEFAULT '{}',
    weight      double precision NOT NULL,
    occurred_at timestamptz NOT NULL
);

-- Order lines, so that refunds naming a line or SKU find the product.
CREATE TABLE order_lines (
    order_id    text NOT NULL,
    line_id     text NOT NULL,
    sku         text NOT NULL DEFAULT '',
    product_id  text NOT NULL,
    quantity    integer NOT NULL,
    refunded    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, line_id)
);

-- Per-customer interactions (purchases, refunds, views, cart changes,
-- clicks, dismissals). The unique key makes redelivered events harmless.
CREATE TABLE interactions (
    id          bigserial PRIMARY KEY,
    customer_id text NOT NULL,
    product_id  text NOT NULL,
    kind        smallint NOT NULL,
    quantity    integer NOT NULL DEFAULT 1,
    order_id    text NOT NULL DEFAULT '',
    occurred_at timestamptz NOT NULL,
    UNIQUE (customer_id, product_id, kind, occurred_at, order_id)
);
CREATE INDEX interactions_customer ON interactions (customer_id, occurred_at DESC);

-- Segment membership and loyalty tier, for targeted boosts and segment
-- trending; changed_at orders out-of-order events.
CREATE TABLE customer_segments (
    customer_id text NOT NULL,
    segment_id  text NOT NULL,
    member      boolean NOT NULL,
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (customer_id, segment_id)
);
CREATE TABLE customer_tiers (
    customer_id text PRIMARY KEY,
    tier_id     text NOT NULL,
    changed_at  timestamptz NOT NULL
);

-- Feedback on served lists, for CTR and conversion per placement, strategy
-- and experiment variant.
CREATE TABLE feedback (
    id                bigserial PRIMARY KEY,
    recommendation_id text NOT NULL DEFAULT '',
    customer_id       text NOT NULL DEFAULT '',
    product_id        text NOT NULL,
    kind              smallint NOT NULL,
    position          integer NOT NULL DEFAULT 0,
    placement         smallint NOT NULL DEFAULT 0,
    experiment_id     text NOT NULL DEFAULT '',
    variant           text NOT NULL DEFAULT '',
    occurred_at       timestamptz NOT NULL
);
CREATE INDEX feedback_experiment ON feedback (experiment_id, variant, kind);

-- One row per ReplenishmentDue event emitted (key: customer, product and
-- the purchase it follows), so each reminder goes out once.
CREATE TABLE replenishment_sent (
    key         text PRIMARY KEY,
    customer_id text NOT NULL,
    sent_at     timestamptz NOT NULL
);

-- +goose Down
DROP TABLE replenishment_sent;
DROP TABLE feedback;
DROP TABLE customer_tiers;
DROP TABLE customer_segments;
DROP TABLE interactions;
DROP TABLE order_lines;
DROP TABLE baskets;
DROP TABLE products;
DROP SEQUENCE product_seq;
