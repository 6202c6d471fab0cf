-- name: MerchandisingVersion :one
SELECT version FROM merchandising_version WHERE singleton;

-- name: BumpMerchandisingVersion :one
UPDATE merchandising_version SET version = version + 1 WHERE singleton RETURNING version;

-- name: AllMerchandisingRules :many
SELECT * FROM merchandising_rules ORDER BY rule_id;

-- name: MerchandisingRulesPage :many
SELECT * FROM merchandising_rules WHERE rule_id > @after::text ORDER BY rule_id LIMIT @max;

-- name: GetMerchandisingRuleForUpdate :one
SELECT * FROM merchandising_rules WHERE rule_id = $1 FOR UPDATE;

-- name: InsertMerchandisingRule :exec
INSERT INTO merchandising_rules (rule_id, name, kind, product_ids, categories, segment_id, tier_id, multiplier, margin_weight, paused, start_time, end_time, create_time, update_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14);

-- name: UpdateMerchandisingRule :exec
UPDATE merchandising_rules SET name = $2, kind = $3, product_ids = $4, categories = $5, segment_id = $6, tier_id = $7,
    multiplier = $8, margin_weight = $9, paused = $10, start_time = $11, end_time = $12, update_time = $13
WHERE rule_id = $1;

-- name: DeleteMerchandisingRule :execrows
DELETE FROM merchandising_rules WHERE rule_id = $1;

-- name: AllExperiments :many
SELECT * FROM experiments ORDER BY experiment_id;

-- name: GetExperiment :one
SELECT * FROM experiments WHERE experiment_id = $1;

-- name: GetExperimentForUpdate :one
SELECT * FROM experiments WHERE experiment_id = $1 FOR UPDATE;

-- name: InsertExperiment :execrows
INSERT INTO experiments (experiment_id, name, placement, variants, state, start_time, end_time, create_time, update_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (experiment_id) DO NOTHING;

-- name: UpdateExperiment :exec
UPDATE experiments SET name = $2, placement = $3, variants = $4, state = $5, start_time = $6, end_time = $7, update_time = $8
WHERE experiment_id = $1;
