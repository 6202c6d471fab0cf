-- +goose Up
-- Event ids a consumer group has processed (or dead-lettered), written in the
-- same transaction as the handler's effects, so a redelivered event is
-- recognised and skipped.
CREATE TABLE consumer_inbox (
    consumer_group    text        NOT NULL,
    event_id          text        NOT NULL,
    topic             text        NOT NULL,
    partition         integer     NOT NULL,
    "offset"          bigint      NOT NULL,
    processed_at      timestamptz NOT NULL DEFAULT now(),
    -- Set when the event was sent to the dead-letter topic instead of being
    -- handled.
    dead_letter_error text,
    PRIMARY KEY (consumer_group, event_id)
);

-- For PruneInbox.
CREATE INDEX consumer_inbox_processed_at_idx ON consumer_inbox (processed_at);

-- +goose Down
DROP TABLE consumer_inbox;
