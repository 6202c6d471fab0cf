-- name: SetBirthday :exec
INSERT INTO members (customer_id, enrolled_at, birth_month, birth_day) VALUES (@customer_id, @enrolled_at, @birth_month, @birth_day)
ON CONFLICT (customer_id) DO UPDATE SET birth_month = EXCLUDED.birth_month, birth_day = EXCLUDED.birth_day;

-- name: GetBirthday :one
SELECT birth_month, birth_day FROM members WHERE customer_id = $1;

-- name: RecognitionCandidates :many
-- Members after @after with an occasion that may be due and has not been
-- granted: a birthday or enrolment anniversary on one of the given local
-- dates, or an order or lifetime-points milestone reached. The domain
-- decides; this only narrows the members to look at.
SELECT m.customer_id FROM members m
WHERE m.customer_id > @after AND (
    (m.birth_month * 100 + m.birth_day = ANY(@b_dates::int[])
     AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.member_id = m.customer_id AND e.type = 'accrual' AND e.order_id = ''
         AND e.reference_id = 'recognition:birthday:' || (@b_years::int[])[array_position(@b_dates::int[], m.birth_month * 100 + m.birth_day)]))
 OR ((extract(month FROM m.enrolled_at AT TIME ZONE @tz::text) * 100 + extract(day FROM m.enrolled_at AT TIME ZONE @tz::text))::int = ANY(@a_dates::int[])
     AND extract(year FROM m.enrolled_at AT TIME ZONE @tz::text)::int
         < (@a_years::int[])[array_position(@a_dates::int[], (extract(month FROM m.enrolled_at AT TIME ZONE @tz::text) * 100 + extract(day FROM m.enrolled_at AT TIME ZONE @tz::text))::int)]
     AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.member_id = m.customer_id AND e.type = 'accrual' AND e.order_id = ''
         AND e.reference_id = 'recognition:anniversary:' || ((@a_years::int[])[array_position(@a_dates::int[], (extract(month FROM m.enrolled_at AT TIME ZONE @tz::text) * 100 + extract(day FROM m.enrolled_at AT TIME ZONE @tz::text))::int)]
             - extract(year FROM m.enrolled_at AT TIME ZONE @tz::text)::int)))
 OR EXISTS (SELECT 1 FROM unnest(@order_thresholds::bigint[]) AS t(v)
            WHERE m.orders_count >= t.v
              AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.member_id = m.customer_id AND e.type = 'accrual' AND e.order_id = ''
                  AND e.reference_id = 'recognition:orders:' || t.v))
 OR EXISTS (SELECT 1 FROM unnest(@points_thresholds::bigint[]) AS t(v)
            WHERE m.lifetime_points >= t.v
              AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.member_id = m.customer_id AND e.type = 'accrual' AND e.order_id = ''
                  AND e.reference_id = 'recognition:points:' || t.v))
)
ORDER BY m.customer_id
LIMIT @lim;

-- name: EnrollAt :exec
-- A customer's enrolment is their sign-up, even when the program saw them
-- first (an order event that arrived before the sign-up event).
INSERT INTO members (customer_id, enrolled_at) VALUES (@customer_id, @enrolled_at)
ON CONFLICT (customer_id) DO UPDATE SET enrolled_at = LEAST(members.enrolled_at, EXCLUDED.enrolled_at);
