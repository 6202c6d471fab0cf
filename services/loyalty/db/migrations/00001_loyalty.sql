-- +goose Up

-- members is one row per customer in the program. It is the row every change
-- to a member's points locks (SELECT ... FOR UPDATE), which serializes
-- concurrent redemptions and holds on one account.
CREATE TABLE members (
    customer_id     text PRIMARY KEY,
    -- balance is the sum of the member's entries. Only the entries trigger
    -- below may change it, so it cannot drift from the ledger.
    balance         bigint NOT NULL DEFAULT 0,
    -- deficit is the part of a negative balance not backed by lots.
    deficit         bigint NOT NULL DEFAULT 0 CHECK (deficit >= 0),
    -- debt is owed points outside the ledger (cap-at-zero clawback policy).
    debt            bigint NOT NULL DEFAULT 0 CHECK (debt >= 0),
    lifetime_points bigint NOT NULL DEFAULT 0,
    orders_count    bigint NOT NULL DEFAULT 0,
    last_activity   timestamptz,
    -- tier is the member's tier status (domain/tier.Status as JSON).
    tier            jsonb NOT NULL DEFAULT '{}',
    tier_id         text NOT NULL DEFAULT '',
    requalify_at    timestamptz,
    segments        text[] NOT NULL DEFAULT '{}',
    enrolled_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX members_requalify_at ON members (requalify_at) WHERE requalify_at IS NOT NULL;

-- entries is the append-only ledger.
CREATE TABLE entries (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            text NOT NULL UNIQUE,
    -- No foreign key: the entries trigger already refuses an entry whose
    -- member does not exist, and a per-row key check would cost a batch of
    -- a thousand orders a thousand extra lookups.
    member_id     text NOT NULL,
    type          text NOT NULL,
    points        bigint NOT NULL,
    balance_after bigint NOT NULL,
    order_id      text NOT NULL DEFAULT '',
    reference_id  text NOT NULL DEFAULT '',
    rule_ids      text[] NOT NULL DEFAULT '{}',
    description   text NOT NULL DEFAULT '',
    lot_id        text NOT NULL DEFAULT '',
    draws         jsonb NOT NULL DEFAULT '[]',
    pending_until timestamptz,
    expires_at    timestamptz,
    actor         text NOT NULL DEFAULT '',
    reason        text NOT NULL DEFAULT '',
    partner_id    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL
);
CREATE INDEX entries_member ON entries (member_id, seq DESC);
-- A referral reward is credited once per reward id.
CREATE UNIQUE INDEX entries_referral_once ON entries (member_id, reference_id) WHERE type = 'referral_reward';
-- A bonus (sign-up, review, custom event) is credited once per member and occasion.
CREATE UNIQUE INDEX entries_bonus_once ON entries (member_id, reference_id) WHERE type = 'accrual' AND order_id = '';

-- +goose StatementBegin
-- entries_apply keeps members.balance equal to the sum of the member's
-- entries: each insert statement adds its entries' points to their members,
-- and every entry's balance_after must be the member's balance before the
-- statement plus the entries up to and including it (in insertion order).
-- An entry computed from a stale balance therefore cannot be written. It
-- runs once per statement, not per row, so a batch of a thousand orders
-- costs one UPDATE of the members, not a thousand.
CREATE FUNCTION entries_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    WITH d AS (
        SELECT member_id, sum(points) AS pts FROM new_entries GROUP BY member_id
    ), u AS (
        UPDATE members m SET balance = m.balance + d.pts FROM d
        WHERE m.customer_id = d.member_id
        RETURNING m.customer_id, m.balance - d.pts AS before
    )
    SELECT x.id, x.member_id, x.balance_after, x.expected INTO bad
    FROM (
        SELECT e.id, e.member_id, e.balance_after,
            u.before + sum(e.points) OVER (PARTITION BY e.member_id ORDER BY e.seq) AS expected
        FROM new_entries e LEFT JOIN u ON u.customer_id = e.member_id
    ) x
    WHERE x.expected IS DISTINCT FROM x.balance_after
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger: entry % of member % says balance_after %, ledger sum is %', bad.id, bad.member_id, bad.balance_after, bad.expected
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER entries_apply AFTER INSERT ON entries REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION entries_apply();

-- +goose StatementBegin
-- entries_append_only refuses to change or remove an entry: corrections are
-- new entries (reversals, adjustments).
CREATE FUNCTION entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: entries are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
-- +goose StatementEnd
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries FOR EACH ROW EXECUTE FUNCTION entries_append_only();

-- +goose StatementBegin
-- members_balance_guard refuses direct writes of members.balance: only the
-- entries trigger (which runs one trigger level deeper) may move it.
CREATE FUNCTION members_balance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.balance IS DISTINCT FROM OLD.balance AND pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'ledger: members.balance changes only through entries' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER members_balance_guard BEFORE UPDATE OF balance ON members FOR EACH ROW EXECUTE FUNCTION members_balance_guard();

-- lots are the points each credit created and what is left of them.
CREATE TABLE lots (
    id            text PRIMARY KEY,
    -- Written only with the member's entries, under the member's lock.
    member_id     text NOT NULL,
    entry_id      text NOT NULL,
    source        text NOT NULL,
    order_id      text NOT NULL DEFAULT '',
    partner_id    text NOT NULL DEFAULT '',
    points        bigint NOT NULL CHECK (points > 0),
    remaining     bigint NOT NULL CHECK (remaining >= 0 AND remaining <= points),
    earned_at     timestamptz NOT NULL,
    pending_until timestamptz,
    expires_at    timestamptz,
    -- warned_at is when PointsWillExpire was announced for the lot.
    warned_at     timestamptz
);
CREATE INDEX lots_open ON lots (member_id) WHERE remaining > 0;
CREATE INDEX lots_due ON lots (expires_at) WHERE remaining > 0 AND expires_at IS NOT NULL;

-- holds are points reserved for a checkout.
CREATE TABLE holds (
    id         text PRIMARY KEY,
    member_id  text NOT NULL REFERENCES members (customer_id),
    order_id   text NOT NULL DEFAULT '',
    points     bigint NOT NULL CHECK (points > 0),
    captured   bigint NOT NULL DEFAULT 0,
    draws      jsonb NOT NULL,
    status     text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    closed_at  timestamptz
);
CREATE INDEX holds_active ON holds (expires_at) WHERE status = 'active';

-- orders remember what each order earned, so it earns once and a refund
-- claws back exactly the points its lines earned.
CREATE TABLE orders (
    order_id    text PRIMARY KEY,
    -- Written only with the member's accrual, under the member's lock.
    member_id   text NOT NULL,
    -- order and result are domain/earning.Order and Result as JSON.
    "order"     jsonb NOT NULL,
    result      jsonb NOT NULL,
    points      bigint NOT NULL,
    -- refunded is the cumulative []earning.RefundLine so far.
    refunded    jsonb NOT NULL DEFAULT '[]',
    refund_ids  text[] NOT NULL DEFAULT '{}',
    cancelled   boolean NOT NULL DEFAULT false,
    spend_minor bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL
);
CREATE INDEX orders_member ON orders (member_id, created_at);

-- redemptions are points spent on rewards or checkout discounts.
CREATE TABLE redemptions (
    id          text PRIMARY KEY,
    member_id   text NOT NULL REFERENCES members (customer_id),
    reward_id   text NOT NULL DEFAULT '',
    points      bigint NOT NULL,
    value_minor bigint NOT NULL DEFAULT 0,
    currency    text NOT NULL DEFAULT '',
    coupon_code text NOT NULL DEFAULT '',
    product_id  text NOT NULL DEFAULT '',
    status      text NOT NULL,
    entry_id    text NOT NULL,
    order_id    text NOT NULL DEFAULT '',
    valid_until timestamptz,
    created_at  timestamptz NOT NULL
);
CREATE INDEX redemptions_member_reward ON redemptions (member_id, reward_id) WHERE status = 'completed';

-- Program configuration: each row keeps its domain value as JSON (spec)
-- next to the columns queries filter on.
CREATE TABLE rewards (
    id         text PRIMARY KEY,
    status     text NOT NULL,
    spec       jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE earning_rules (
    id          text PRIMARY KEY,
    status      text NOT NULL,
    spec        jsonb NOT NULL,
    -- budget_used is what the rule awarded across all members; it is raised
    -- with a conditional update so concurrent earns never overspend.
    budget_used bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- rule_usage is what each member earned from a rule per cap window.
CREATE TABLE rule_usage (
    rule_id      text NOT NULL,
    member_id    text NOT NULL,
    window_start timestamptz NOT NULL,
    points       bigint NOT NULL,
    PRIMARY KEY (rule_id, member_id, window_start)
);

CREATE TABLE tiers (
    id         text PRIMARY KEY,
    rank       integer NOT NULL UNIQUE,
    spec       jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- +goose StatementBegin
-- loyalty_apply writes what one transaction's operations changed, for any
-- number of members, in one call: new lots, lot remainders, entries (in the
-- order written, so each balance_after builds on the previous one), holds,
-- member state, orders and redemptions. One round trip instead of one per
-- table is what lets a batch of orders, or a redemption, commit quickly.
CREATE FUNCTION loyalty_apply(c jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lots (id, member_id, entry_id, source, order_id, partner_id, points, remaining, earned_at, pending_until, expires_at)
    SELECT u.id, u.member_id, u.entry_id, u.source, u.order_id, u.partner_id, u.points, u.remaining, u.earned_at, u.pending_until, u.expires_at
    FROM jsonb_to_recordset(COALESCE(c->'new_lots', '[]')) AS u(id text, member_id text, entry_id text, source text, order_id text,
        partner_id text, points bigint, remaining bigint, earned_at timestamptz, pending_until timestamptz, expires_at timestamptz);

    UPDATE lots SET remaining = u.remaining
    FROM jsonb_to_recordset(COALESCE(c->'updated_lots', '[]')) AS u(id text, remaining bigint)
    WHERE lots.id = u.id;

    INSERT INTO entries (id, member_id, type, points, balance_after, order_id, reference_id, rule_ids, description, lot_id,
        draws, pending_until, expires_at, actor, reason, partner_id, created_at)
    SELECT u.id, u.member_id, u.type, u.points, u.balance_after, u.order_id, u.reference_id,
        COALESCE((SELECT array_agg(x) FROM jsonb_array_elements_text(u.rule_ids) AS x), '{}'),
        u.description, u.lot_id, u.draws, u.pending_until, u.expires_at, u.actor, u.reason, u.partner_id, u.created_at
    FROM jsonb_to_recordset(COALESCE(c->'entries', '[]')) AS u(id text, member_id text, type text, points bigint,
        balance_after bigint, order_id text, reference_id text, rule_ids jsonb, description text, lot_id text, draws jsonb,
        pending_until timestamptz, expires_at timestamptz, actor text, reason text, partner_id text, created_at timestamptz, ord bigint)
    ORDER BY u.ord;

    INSERT INTO holds (id, member_id, order_id, points, captured, draws, status, created_at, expires_at, closed_at)
    SELECT u.id, u.member_id, u.order_id, u.points, u.captured, u.draws, u.status, u.created_at, u.expires_at, u.closed_at
    FROM jsonb_to_recordset(COALESCE(c->'holds', '[]')) AS u(id text, member_id text, order_id text, points bigint, captured bigint,
        draws jsonb, status text, created_at timestamptz, expires_at timestamptz, closed_at timestamptz)
    ON CONFLICT (id) DO UPDATE SET captured = EXCLUDED.captured, status = EXCLUDED.status, closed_at = EXCLUDED.closed_at;

    UPDATE members SET deficit = u.deficit, debt = u.debt, last_activity = u.last_activity,
        lifetime_points = members.lifetime_points + u.earned, orders_count = members.orders_count + u.orders
    FROM jsonb_to_recordset(COALESCE(c->'members', '[]')) AS u(customer_id text, deficit bigint, debt bigint,
        last_activity timestamptz, earned bigint, orders bigint)
    WHERE members.customer_id = u.customer_id;

    INSERT INTO orders (order_id, member_id, "order", result, points, spend_minor, created_at)
    SELECT u.order_id, u.member_id, u."order", u.result, u.points, u.spend_minor, u.created_at
    FROM jsonb_to_recordset(COALESCE(c->'orders', '[]')) AS u(order_id text, member_id text, "order" jsonb, result jsonb,
        points bigint, spend_minor bigint, created_at timestamptz);

    INSERT INTO redemptions (id, member_id, reward_id, points, value_minor, currency, coupon_code, product_id, status, entry_id,
        order_id, valid_until, created_at)
    SELECT u.id, u.member_id, u.reward_id, u.points, u.value_minor, u.currency, u.coupon_code, u.product_id, u.status, u.entry_id,
        u.order_id, u.valid_until, u.created_at
    FROM jsonb_to_recordset(COALESCE(c->'redemptions', '[]')) AS u(id text, member_id text, reward_id text, points bigint,
        value_minor bigint, currency text, coupon_code text, product_id text, status text, entry_id text, order_id text,
        valid_until timestamptz, created_at timestamptz);
END $$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE tiers, rule_usage, earning_rules, rewards, redemptions, orders, holds, lots, entries, members;
DROP FUNCTION loyalty_apply, members_balance_guard, entries_append_only, entries_apply;
