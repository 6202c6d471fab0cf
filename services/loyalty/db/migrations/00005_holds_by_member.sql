-- +goose Up

-- Locking a member sums their active holds; without this index every lock
-- read all active holds of the program.
CREATE INDEX holds_member_active ON holds (member_id) WHERE status = 'active';

-- +goose Down
DROP INDEX holds_member_active;
