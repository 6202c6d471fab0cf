package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/affinity-platform/affinity/pkg/events"
)

// ErrNotInHandler is returned by Reject when its context is not one a
// Runner passed to a handler (a test calling the handler directly, say):
// nobody would dead-letter the message.
var ErrNotInHandler = errors.New("consumer: Reject called outside a runner's handler")

// Reject routes one message of the current batch to the dead-letter topic
// without failing the batch: the handler calls it for a message it can
// never process (it does not decode, or breaks a rule of the domain),
// leaves that message's effects out and carries on with the others.
//
// The message is written to the dead-letter topic (with the same headers a
// poison message gets, HeaderDLQError holding cause) when the handler
// returns nil, before the batch's transaction commits, and its inbox row
// records cause. If the handler fails the batch instead, nothing is
// dead-lettered and the whole batch is retried as usual (the rejection is
// made again on the next attempt). A crash after the dead-letter write and
// before the commit dead-letters the message twice, which is harmless.
//
// ctx must be (derived from) the context the runner passed to the handler,
// and m one of the messages of that call; otherwise Reject returns an
// error (ErrNotInHandler when ctx is not a handler's) and nothing happens.
func Reject(ctx context.Context, m events.Message, cause error) error {
	rs, ok := ctx.Value(rejectionsKey{}).(*rejections)
	if !ok {
		return ErrNotInHandler
	}
	if cause == nil {
		cause = errors.New("rejected by the handler")
	}
	id := inboxID(m)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if !rs.batch[id] {
		return fmt.Errorf("consumer: Reject: message %s is not in the batch being handled", id)
	}
	if _, dup := rs.causes[id]; !dup {
		rs.order = append(rs.order, m)
	}
	rs.causes[id] = cause
	return nil
}

// rejectionsKey is the context key of a handler call's rejections.
type rejectionsKey struct{}

// rejections collects the messages a handler call rejected. It is made
// anew for every attempt, so a failed attempt's rejections are forgotten
// together with its transaction.
type rejections struct {
	mu     sync.Mutex
	batch  map[string]bool
	causes map[string]error
	order  []events.Message
}

func newRejections(msgs []events.Message) *rejections {
	rs := &rejections{batch: make(map[string]bool, len(msgs)), causes: map[string]error{}}
	for _, m := range msgs {
		rs.batch[inboxID(m)] = true
	}
	return rs
}

// list returns the rejected messages in the order they were rejected, with
// their causes.
func (rs *rejections) list() ([]events.Message, []error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	causes := make([]error, len(rs.order))
	for i, m := range rs.order {
		causes[i] = rs.causes[inboxID(m)]
	}
	return rs.order, causes
}
