-- +goose Up

-- +goose StatementBegin
-- loyalty_apply skips the tables a change set does not touch (the Go side
-- leaves empty lists out): a redemption writes entries, lots, the member and
-- the redemption, and no longer pays for three empty INSERTs per call.
CREATE OR REPLACE FUNCTION loyalty_apply(c jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF c ? 'new_lots' THEN
        INSERT INTO lots (id, member_id, entry_id, source, order_id, partner_id, points, remaining, earned_at, pending_until, expires_at)
        SELECT u.id, u.member_id, u.entry_id, u.source, u.order_id, u.partner_id, u.points, u.remaining, u.earned_at, u.pending_until, u.expires_at
        FROM jsonb_to_recordset(COALESCE(c->'new_lots', '[]')) AS u(id text, member_id text, entry_id text, source text, order_id text,
            partner_id text, points bigint, remaining bigint, earned_at timestamptz, pending_until timestamptz, expires_at timestamptz);
    END IF;

    IF c ? 'updated_lots' THEN
        UPDATE lots SET remaining = u.remaining
        FROM jsonb_to_recordset(COALESCE(c->'updated_lots', '[]')) AS u(id text, remaining bigint)
        WHERE lots.id = u.id;
    END IF;

    IF c ? 'entries' THEN
        INSERT INTO entries (id, member_id, type, points, balance_after, order_id, reference_id, rule_ids, description, lot_id,
            draws, pending_until, expires_at, actor, reason, partner_id, created_at)
        SELECT u.id, u.member_id, u.type, u.points, u.balance_after, u.order_id, u.reference_id,
            COALESCE((SELECT array_agg(x) FROM jsonb_array_elements_text(u.rule_ids) AS x), '{}'),
            u.description, u.lot_id, u.draws, u.pending_until, u.expires_at, u.actor, u.reason, u.partner_id, u.created_at
        FROM jsonb_to_recordset(COALESCE(c->'entries', '[]')) AS u(id text, member_id text, type text, points bigint,
            balance_after bigint, order_id text, reference_id text, rule_ids jsonb, description text, lot_id text, draws jsonb,
            pending_until timestamptz, expires_at timestamptz, actor text, reason text, partner_id text, created_at timestamptz, ord bigint)
        ORDER BY u.ord;
    END IF;

    IF c ? 'holds' THEN
        INSERT INTO holds (id, member_id, order_id, points, captured, draws, status, created_at, expires_at, closed_at)
        SELECT u.id, u.member_id, u.order_id, u.points, u.captured, u.draws, u.status, u.created_at, u.expires_at, u.closed_at
        FROM jsonb_to_recordset(COALESCE(c->'holds', '[]')) AS u(id text, member_id text, order_id text, points bigint, captured bigint,
            draws jsonb, status text, created_at timestamptz, expires_at timestamptz, closed_at timestamptz)
        ON CONFLICT (id) DO UPDATE SET captured = EXCLUDED.captured, status = EXCLUDED.status, closed_at = EXCLUDED.closed_at;
    END IF;

    IF c ? 'members' THEN
        UPDATE members SET deficit = u.deficit, debt = u.debt, last_activity = u.last_activity,
            lifetime_points = members.lifetime_points + u.earned, orders_count = members.orders_count + u.orders
        FROM jsonb_to_recordset(COALESCE(c->'members', '[]')) AS u(customer_id text, deficit bigint, debt bigint,
            last_activity timestamptz, earned bigint, orders bigint)
        WHERE members.customer_id = u.customer_id;
    END IF;

    IF c ? 'orders' THEN
        INSERT INTO orders (order_id, member_id, "order", result, points, spend_minor, created_at)
        SELECT u.order_id, u.member_id, u."order", u.result, u.points, u.spend_minor, u.created_at
        FROM jsonb_to_recordset(COALESCE(c->'orders', '[]')) AS u(order_id text, member_id text, "order" jsonb, result jsonb,
            points bigint, spend_minor bigint, created_at timestamptz);
    END IF;

    IF c ? 'redemptions' THEN
        INSERT INTO redemptions (id, member_id, reward_id, points, value_minor, currency, coupon_code, product_id, status, entry_id,
            order_id, valid_until, created_at)
        SELECT u.id, u.member_id, u.reward_id, u.points, u.value_minor, u.currency, u.coupon_code, u.product_id, u.status, u.entry_id,
            u.order_id, u.valid_until, u.created_at
        FROM jsonb_to_recordset(COALESCE(c->'redemptions', '[]')) AS u(id text, member_id text, reward_id text, points bigint,
            value_minor bigint, currency text, coupon_code text, product_id text, status text, entry_id text, order_id text,
            valid_until timestamptz, created_at timestamptz);
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION loyalty_apply(c jsonb) RETURNS void LANGUAGE plpgsql AS $$
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
