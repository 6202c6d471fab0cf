-- +goose Up
-- Interactions of visitors not identified yet (no customer id, only an
-- anonymous id such as a device or cookie id). They wait here until an
-- identify links the anonymous id to a customer; then they are moved into
-- that customer's profile (and deleted here) in the same transaction, so
-- each is merged exactly once. payload is the commerce.v1.InteractionEvent
-- in protobuf binary; event_time is the envelope time, the fallback when
-- the event carries no occurred_at.
CREATE TABLE anonymous_events (
    anonymous_id text NOT NULL,
    event_id     text NOT NULL,
    event_time   timestamptz NOT NULL,
    payload      bytea NOT NULL,
    PRIMARY KEY (anonymous_id, event_id)
);
CREATE INDEX anonymous_events_time ON anonymous_events (event_time);

-- Which customer each anonymous id was identified as; the first identify
-- wins, later interactions of the anonymous id go straight to that customer.
CREATE TABLE anonymous_links (
    anonymous_id text PRIMARY KEY,
    customer_id  text NOT NULL,
    linked_at    timestamptz NOT NULL
);

-- counted_orders are the orders every order trait counts (see
-- profile.OrderFacts): not cancelled, content known, net of their refunds
-- in the order's currency, and with a net value above zero. It reads the
-- facts (the source of truth), so the population statistics are computed
-- from the same orders as the traits. The OFFSET 0 subquery extracts each
-- profile's orders and refunds once (without it PostgreSQL would detoast
-- the whole facts document again for every order).
CREATE VIEW counted_orders AS
SELECT f.customer_id,
       o.key AS order_id,
       (o.value->>'PlacedAt')::timestamptz AS placed_at,
       o.value->>'Currency' AS currency,
       ((o.value->>'Total')::bigint - COALESCE(r.amount, 0))::bigint AS net
FROM profile_facts f
CROSS JOIN LATERAL (SELECT f.facts->'Orders' AS orders, f.facts->'Refunds' AS refunds OFFSET 0) AS j
CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(j.orders) = 'object' THEN j.orders ELSE '{}'::jsonb END) AS o(key, value)
LEFT JOIN LATERAL (
    SELECT sum((rv.value->>'Amount')::bigint) AS amount
    FROM jsonb_each(CASE WHEN jsonb_typeof(j.refunds) = 'object' THEN j.refunds ELSE '{}'::jsonb END) AS rv(key, value)
    WHERE rv.value->>'OrderID' = o.key AND rv.value->>'Currency' = o.value->>'Currency'
) AS r ON true
WHERE (o.value->>'Status')::int <> 3 AND COALESCE(o.value->>'ContentEventID', '') <> ''
  AND (o.value->>'Total')::bigint - COALESCE(r.amount, 0) > 0;

-- customer_activity is every dated thing a customer did: orders not
-- cancelled (refunded or not: placing one is activity), tracked
-- interactions (kept for the longest rule window, 730 days) and survey
-- answers; one read of each profile's facts.
CREATE VIEW customer_activity AS
SELECT f.customer_id, (e.value->>e.field)::timestamptz AS at
FROM profile_facts f
CROSS JOIN LATERAL (SELECT f.facts->'Orders' AS orders, f.facts->'Interactions' AS interactions, f.facts->'Surveys' AS surveys OFFSET 0) AS j
CROSS JOIN LATERAL (
    SELECT 'PlacedAt' AS field, o.value FROM jsonb_each(CASE WHEN jsonb_typeof(j.orders) = 'object' THEN j.orders ELSE '{}'::jsonb END) AS o(key, value)
    WHERE (o.value->>'Status')::int <> 3 AND COALESCE(o.value->>'ContentEventID', '') <> ''
    UNION ALL
    SELECT 'At', i.value FROM jsonb_each(CASE WHEN jsonb_typeof(j.interactions) = 'object' THEN j.interactions ELSE '{}'::jsonb END) AS i(key, value)
    UNION ALL
    SELECT 'At', s.value FROM jsonb_each(CASE WHEN jsonb_typeof(j.surveys) = 'object' THEN j.surveys ELSE '{}'::jsonb END) AS s(key, value)
) AS e;

-- The population statistics read narrow copies of the two views, kept
-- current incrementally: before computing, the service re-derives the rows
-- of the profiles changed since the last sync (profiles.changed_xid at or
-- after the horizon, the oldest transaction still running at the previous
-- sync, as the profile cache does), so a dashboard call reads the facts of
-- the changed profiles only.
CREATE TABLE stats_orders (
    customer_id text NOT NULL,
    order_id    text NOT NULL,
    placed_at   timestamptz NOT NULL,
    currency    text NOT NULL,
    net         bigint NOT NULL,
    PRIMARY KEY (customer_id, order_id)
);
CREATE TABLE stats_activity (
    customer_id text NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX stats_activity_customer ON stats_activity (customer_id);
CREATE TABLE stats_sync (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    horizon xid8 NOT NULL
);
INSERT INTO stats_sync (horizon) VALUES ('0');

-- +goose Down
DROP TABLE stats_sync;
DROP TABLE stats_activity;
DROP TABLE stats_orders;
DROP VIEW customer_activity;
DROP VIEW counted_orders;
DROP TABLE anonymous_links;
DROP TABLE anonymous_events;
