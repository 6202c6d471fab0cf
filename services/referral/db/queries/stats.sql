-- name: CampaignCounters :one
SELECT
    (SELECT count(*) FROM codes k WHERE k.campaign_id = sqlc.arg(campaign_id)::text)::int AS sharers,
    (SELECT count(DISTINCT c.code) FROM clicks c WHERE c.campaign_id = sqlc.arg(campaign_id)::text
        AND c.at >= sqlc.arg(from_at)::timestamptz AND c.at < sqlc.arg(to_at)::timestamptz)::int AS active_sharers,
    (SELECT count(*) FROM clicks c WHERE c.campaign_id = sqlc.arg(campaign_id)::text
        AND c.at >= sqlc.arg(from_at)::timestamptz AND c.at < sqlc.arg(to_at)::timestamptz)::int AS clicks,
    (SELECT count(*) FROM referrals r WHERE r.campaign_id = sqlc.arg(campaign_id)::text
        AND r.signed_up_at >= sqlc.arg(from_at)::timestamptz AND r.signed_up_at < sqlc.arg(to_at)::timestamptz)::int AS signups,
    (SELECT count(*) FROM referrals r WHERE r.campaign_id = sqlc.arg(campaign_id)::text AND r.stage = 'rejected'
        AND r.signed_up_at >= sqlc.arg(from_at)::timestamptz AND r.signed_up_at < sqlc.arg(to_at)::timestamptz)::int AS rejected,
    (SELECT count(*) FROM referrals r WHERE r.campaign_id = sqlc.arg(campaign_id)::text AND r.stage IN ('converted', 'rewarded')
        AND r.converted_at >= sqlc.arg(from_at)::timestamptz AND r.converted_at < sqlc.arg(to_at)::timestamptz)::int AS conversions,
    (SELECT coalesce(sum(r.order_value_minor), 0) FROM referrals r WHERE r.campaign_id = sqlc.arg(campaign_id)::text AND r.stage IN ('converted', 'rewarded')
        AND r.converted_at >= sqlc.arg(from_at)::timestamptz AND r.converted_at < sqlc.arg(to_at)::timestamptz)::bigint AS revenue_minor,
    (SELECT count(*) FROM rewards w WHERE w.campaign_id = sqlc.arg(campaign_id)::text AND w.status = 'paid')::int AS rewards_paid,
    (SELECT coalesce(sum(w.cost_points), 0) FROM rewards w WHERE w.campaign_id = sqlc.arg(campaign_id)::text AND w.status = 'paid')::bigint AS cost_points,
    (SELECT coalesce(sum(w.cost_money_minor), 0) FROM rewards w WHERE w.campaign_id = sqlc.arg(campaign_id)::text AND w.status = 'paid')::bigint AS cost_money_minor;

-- name: TopReferrers :many
SELECT r.referrer_id,
       (r.body->>'ReferrerKind' = 'partner')::boolean AS partner,
       count(*)::int AS signups,
       count(*) FILTER (WHERE r.stage IN ('converted', 'rewarded'))::int AS conversions,
       coalesce((SELECT sum(w.cost_points) FROM rewards w
                 WHERE w.campaign_id = sqlc.arg(campaign_id)::text AND w.beneficiary_id = r.referrer_id
                   AND w.role <> 'friend' AND w.status = 'paid'), 0)::bigint AS points_rewarded
FROM referrals r
WHERE r.campaign_id = sqlc.arg(campaign_id)::text
  AND r.signed_up_at >= sqlc.arg(from_at)::timestamptz AND r.signed_up_at < sqlc.arg(to_at)::timestamptz
  AND (NOT sqlc.arg(only_partners)::boolean OR r.body->>'ReferrerKind' = 'partner')
GROUP BY r.referrer_id, partner
ORDER BY conversions DESC, signups DESC, r.referrer_id
LIMIT sqlc.arg(lim);

-- name: RejectionsByReason :many
SELECT coalesce(r.body->'Rejection'->>'Reason', '')::text AS reason, count(*)::int AS n
FROM referrals r
WHERE r.campaign_id = sqlc.arg(campaign_id)::text AND r.stage = 'rejected'
  AND r.signed_up_at >= sqlc.arg(from_at)::timestamptz AND r.signed_up_at < sqlc.arg(to_at)::timestamptz
GROUP BY 1
ORDER BY 1;
