-- name: SaveSnapshot :exec
INSERT INTO model_snapshots (name, watermark, taken_at, data) VALUES (@name, @watermark, @taken_at, @data)
ON CONFLICT (name) DO UPDATE SET watermark = EXCLUDED.watermark, taken_at = EXCLUDED.taken_at, data = EXCLUDED.data
WHERE model_snapshots.watermark <= EXCLUDED.watermark;

-- name: LoadSnapshot :many
SELECT * FROM model_snapshots WHERE name = @name;
