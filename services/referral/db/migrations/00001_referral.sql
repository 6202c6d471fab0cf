-- +goose Up

-- campaigns keeps the whole domain campaign in terms (jsonb) so new terms
-- need no migration; the columns beside it are what queries filter on, and
-- the budget spend lives in columns changed only under the row lock.
CREATE TABLE campaigns (
    id                text PRIMARY KEY,
    status            text NOT NULL,
    terms             jsonb NOT NULL,
    spent_points      bigint NOT NULL DEFAULT 0,
    spent_money_minor bigint NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX campaigns_newest ON campaigns (created_at DESC, id DESC);

-- codes share one namespace across campaigns (one link space).
CREATE TABLE codes (
    code          text PRIMARY KEY,
    campaign_id   text NOT NULL REFERENCES campaigns (id),
    owner_kind    text NOT NULL,
    owner_id      text NOT NULL,
    vanity        boolean NOT NULL,
    partner_terms jsonb,
    created_at    timestamptz NOT NULL
);
-- One code per customer and campaign, which makes issuing idempotent.
CREATE UNIQUE INDEX codes_one_per_customer ON codes (campaign_id, owner_id) WHERE owner_kind = 'customer';

CREATE TABLE clicks (
    id          text PRIMARY KEY,
    code        text NOT NULL REFERENCES codes (code),
    campaign_id text NOT NULL,
    device_id   text NOT NULL,
    ip_hash     text NOT NULL,
    user_agent  text NOT NULL,
    landing_url text NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX clicks_device ON clicks (device_id, at) WHERE device_id <> '';
CREATE INDEX clicks_campaign ON clicks (campaign_id, at);
CREATE INDEX clicks_code ON clicks (code);

-- referrals: one per friend, ever (the id derives from the friend's id).
-- body is the domain referral with its decisions and evidence; the columns
-- are copies for queries.
CREATE TABLE referrals (
    id                text PRIMARY KEY,
    campaign_id       text NOT NULL REFERENCES campaigns (id),
    code              text NOT NULL,
    referrer_id       text NOT NULL,
    friend_id         text NOT NULL UNIQUE,
    stage             text NOT NULL,
    friend_device_id  text NOT NULL,
    friend_ip_hash    text NOT NULL,
    signed_up_at      timestamptz NOT NULL,
    converted_at      timestamptz,
    order_value_minor bigint NOT NULL DEFAULT 0,
    -- nudge_at is when a ReferralNudgeDue is due (null: never); cleared once sent.
    nudge_at          timestamptz,
    body              jsonb NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX referrals_referrer ON referrals (referrer_id, signed_up_at DESC, id DESC);
CREATE INDEX referrals_campaign ON referrals (campaign_id, signed_up_at);
CREATE INDEX referrals_ip ON referrals (friend_ip_hash, signed_up_at) WHERE friend_ip_hash <> '';
CREATE INDEX referrals_device ON referrals (friend_device_id, signed_up_at) WHERE friend_device_id <> '';
CREATE INDEX referrals_nudge ON referrals (nudge_at) WHERE stage = 'signed_up' AND nudge_at IS NOT NULL;

-- rewards: ids are deterministic (reward.NewID), so creating one twice is a no-op.
CREATE TABLE rewards (
    id               text PRIMARY KEY,
    referral_id      text NOT NULL REFERENCES referrals (id),
    campaign_id      text NOT NULL,
    beneficiary_id   text NOT NULL,
    role             text NOT NULL,
    status           text NOT NULL,
    cost_points      bigint NOT NULL,
    cost_money_minor bigint NOT NULL,
    payable_at       timestamptz NOT NULL,
    body             jsonb NOT NULL
);
CREATE INDEX rewards_referral ON rewards (referral_id);
CREATE INDEX rewards_due ON rewards (payable_at) WHERE status IN ('pending', 'payable');
CREATE INDEX rewards_campaign ON rewards (campaign_id, status);

-- customers holds what the commerce, segmentation and loyalty events told
-- us about customers: the evidence fraud rules and eligibility look at.
CREATE TABLE customers (
    customer_id    text PRIMARY KEY,
    customer_since timestamptz,
    email_hash     text NOT NULL DEFAULT '',
    phone_hash     text NOT NULL DEFAULT '',
    device_ids     text[] NOT NULL DEFAULT '{}',
    segments       text[] NOT NULL DEFAULT '{}',
    tier           text NOT NULL DEFAULT ''
);

-- orders are the commerce orders seen, for "first order", the referrer's
-- order count and partial refunds. refunded_minor sums distinct refunds.
CREATE TABLE orders (
    order_id       text PRIMARY KEY,
    customer_id    text NOT NULL,
    placed_at      timestamptz NOT NULL,
    total_minor    bigint NOT NULL,
    currency       text NOT NULL,
    refunded_minor bigint NOT NULL DEFAULT 0
);
CREATE INDEX orders_customer ON orders (customer_id, placed_at);

CREATE TABLE order_refunds (
    order_id  text NOT NULL,
    refund_id text NOT NULL,
    PRIMARY KEY (order_id, refund_id)
);

-- coupon_codes are the pools discount rewards draw from; a code is given to
-- one reward, and drawing again for the same reward returns the same code.
CREATE TABLE coupon_codes (
    pool      text NOT NULL,
    code      text NOT NULL,
    reward_id text UNIQUE,
    PRIMARY KEY (pool, code)
);

-- +goose Down
DROP TABLE coupon_codes;
DROP TABLE order_refunds;
DROP TABLE orders;
DROP TABLE customers;
DROP TABLE rewards;
DROP TABLE referrals;
DROP TABLE clicks;
DROP TABLE codes;
DROP TABLE campaigns;
