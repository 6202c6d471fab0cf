// Package events defines the envelope every Affinity event travels in and the
// Kafka plumbing shared by producers and consumers: encoding an Event into a
// kafka-go message, reading one back, W3C trace propagation through Kafka
// headers, the kafka-go writer settings and topic bootstrap.
//
// The envelope follows the CloudEvents Kafka binary binding: the payload is
// the message value and the attributes are headers.
//
//	ce_id         event id, a UUIDv7 (time ordered); consumers dedupe on it
//	ce_type       the payload's protobuf full name, e.g. commerce.v1.OrderEvent
//	ce_source     the producing service, e.g. loyalty
//	ce_time       occurrence time, RFC 3339 with nanoseconds, UTC
//	ce_subject    the customer or product the event is about (optional)
//	content-type  application/protobuf (what we write) or application/json
//	traceparent   W3C trace context of the producing span (when tracing)
//	tracestate    W3C trace state (when present)
//
// The Kafka key is the subject unless set explicitly, so all events about one
// customer land on one partition and keep their order.
package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Header names of the envelope.
const (
	HeaderID          = "ce_id"
	HeaderType        = "ce_type"
	HeaderSource      = "ce_source"
	HeaderTime        = "ce_time"
	HeaderSubject     = "ce_subject"
	HeaderContentType = "content-type"
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
)

// Content types understood by Decode.
const (
	// ContentTypeProtobuf is what Encode writes: protobuf binary.
	ContentTypeProtobuf = "application/protobuf"
	// ContentTypeXProtobuf is an alias some producers use for protobuf binary.
	ContentTypeXProtobuf = "application/x-protobuf"
	// ContentTypeJSON is protojson of the same message, for external producers.
	ContentTypeJSON = "application/json"
)

// Event is what a service publishes: a protobuf payload plus its envelope.
// Zero fields get defaults in Encode: ID a fresh UUIDv7, Type the payload's
// protobuf full name, Time now, Key the Subject.
type Event struct {
	ID      string
	Type    string
	Source  string
	Subject string
	Topic   string
	Key     string
	Time    time.Time
	Payload proto.Message
}

// Message is an event as read from Kafka: the parsed envelope, where it was
// read from, and the raw value and headers (kept so a message can be forwarded
// to a dead-letter topic unchanged).
type Message struct {
	ID          string
	Type        string
	Source      string
	Subject     string
	ContentType string
	Topic       string
	Key         string
	Time        time.Time
	Partition   int
	Offset      int64
	Value       []byte
	Headers     []kafka.Header
}

// NewID returns a fresh event id: a UUIDv7, so ids sort by creation time.
func NewID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("events: new id: %w", err)
	}
	return id.String(), nil
}

// Encode turns ev into a Kafka message: defaults filled in, payload marshalled
// as protobuf binary, envelope and the trace context of ctx in the headers.
// Topic, Source and Payload are required.
func Encode(ctx context.Context, ev Event) (kafka.Message, error) {
	if ev.Topic == "" {
		return kafka.Message{}, errors.New("events: encode: topic is required")
	}
	if ev.Source == "" {
		return kafka.Message{}, fmt.Errorf("events: encode %s: source is required", ev.Topic)
	}
	if ev.Payload == nil {
		return kafka.Message{}, fmt.Errorf("events: encode %s: payload is required", ev.Topic)
	}
	if ev.ID == "" {
		id, err := NewID()
		if err != nil {
			return kafka.Message{}, err
		}
		ev.ID = id
	}
	if ev.Type == "" {
		ev.Type = string(ev.Payload.ProtoReflect().Descriptor().FullName())
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.Key == "" {
		ev.Key = ev.Subject
	}
	// Deterministic so that the same event always has the same bytes, which
	// makes redelivered copies identical.
	value, err := proto.MarshalOptions{Deterministic: true}.Marshal(ev.Payload)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("events: encode %s %s: marshal payload: %w", ev.Topic, ev.Type, err)
	}
	headers := []kafka.Header{
		{Key: HeaderID, Value: []byte(ev.ID)},
		{Key: HeaderType, Value: []byte(ev.Type)},
		{Key: HeaderSource, Value: []byte(ev.Source)},
		{Key: HeaderTime, Value: []byte(ev.Time.UTC().Format(time.RFC3339Nano))},
		{Key: HeaderContentType, Value: []byte(ContentTypeProtobuf)},
	}
	if ev.Subject != "" {
		headers = append(headers, kafka.Header{Key: HeaderSubject, Value: []byte(ev.Subject)})
	}
	headers = InjectTrace(ctx, headers)
	km := kafka.Message{Topic: ev.Topic, Value: value, Headers: headers, Time: ev.Time}
	if ev.Key != "" {
		km.Key = []byte(ev.Key)
	}
	return km, nil
}

// Parse reads the envelope of a Kafka message. It fails only when a header is
// present but malformed (ce_time); missing headers leave fields empty, so
// the caller decides what is required. The returned Message is filled as far
// as possible even on error, so it can still be dead-lettered.
func Parse(km kafka.Message) (Message, error) {
	m := Message{
		Topic:     km.Topic,
		Key:       string(km.Key),
		Partition: km.Partition,
		Offset:    km.Offset,
		Value:     km.Value,
		Headers:   km.Headers,
	}
	var err error
	for _, h := range km.Headers {
		switch strings.ToLower(h.Key) {
		case HeaderID:
			m.ID = string(h.Value)
		case HeaderType:
			m.Type = string(h.Value)
		case HeaderSource:
			m.Source = string(h.Value)
		case HeaderSubject:
			m.Subject = string(h.Value)
		case HeaderContentType:
			m.ContentType = string(h.Value)
		case HeaderTime:
			t, perr := time.Parse(time.RFC3339Nano, string(h.Value))
			if perr != nil {
				err = fmt.Errorf("events: header %s of %s/%d@%d: %w", HeaderTime, km.Topic, km.Partition, km.Offset, perr)
				continue
			}
			m.Time = t
		}
	}
	return m, err
}

// Header returns the value of the first header named key (case-insensitive),
// and whether it was present.
func (m Message) Header(key string) (string, bool) {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			return string(h.Value), true
		}
	}
	return "", false
}

// Decode unmarshals the payload into dst according to the content-type
// header: application/protobuf (or application/x-protobuf, or no content type
// at all) as protobuf binary, application/json as protojson ignoring unknown
// fields so producers may add fields before consumers know them.
func (m Message) Decode(dst proto.Message) error {
	ct := mediaType(m.ContentType)
	switch ct {
	case "", ContentTypeProtobuf, ContentTypeXProtobuf:
		if err := proto.Unmarshal(m.Value, dst); err != nil {
			return fmt.Errorf("events: decode %s/%d@%d as protobuf (header %s=%q): %w", m.Topic, m.Partition, m.Offset, HeaderContentType, m.ContentType, err)
		}
	case ContentTypeJSON:
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(m.Value, dst); err != nil {
			return fmt.Errorf("events: decode %s/%d@%d as protojson (header %s=%q): %w", m.Topic, m.Partition, m.Offset, HeaderContentType, m.ContentType, err)
		}
	default:
		return fmt.Errorf("events: decode %s/%d@%d: unsupported header %s=%q (want %s or %s): %w", m.Topic, m.Partition, m.Offset, HeaderContentType, m.ContentType, ContentTypeProtobuf, ContentTypeJSON, ErrUnsupportedContentType)
	}
	return nil
}

// ErrUnsupportedContentType is returned (wrapped) by Decode for a
// content-type header it cannot decode.
var ErrUnsupportedContentType = errors.New("unsupported content type")

// SupportedContentType reports whether Decode understands the content type.
func SupportedContentType(ct string) bool {
	switch mediaType(ct) {
	case "", ContentTypeProtobuf, ContentTypeXProtobuf, ContentTypeJSON:
		return true
	}
	return false
}

// mediaType drops parameters such as "; charset=utf-8" and normalises case.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// Context returns parent carrying the remote span context from the message's
// traceparent/tracestate headers, so a span started from it is a child of the
// producer's span.
func (m Message) Context(parent context.Context) context.Context {
	return ExtractTrace(parent, m.Headers)
}

// InjectTrace adds the trace context of ctx to headers with the global
// propagator (otel.GetTextMapPropagator), replacing headers of the same
// names. It returns the new slice.
func InjectTrace(ctx context.Context, headers []kafka.Header) []kafka.Header {
	c := HeaderCarrier{Headers: &headers}
	otel.GetTextMapPropagator().Inject(ctx, c)
	return headers
}

// ExtractTrace returns parent with the trace context found in headers.
func ExtractTrace(parent context.Context, headers []kafka.Header) context.Context {
	return otel.GetTextMapPropagator().Extract(parent, HeaderCarrier{Headers: &headers})
}

// HeaderCarrier adapts Kafka headers to propagation.TextMapCarrier.
type HeaderCarrier struct {
	Headers *[]kafka.Header
}

// Get returns the value of the first header named key.
func (c HeaderCarrier) Get(key string) string {
	for _, h := range *c.Headers {
		if strings.EqualFold(h.Key, key) {
			return string(h.Value)
		}
	}
	return ""
}

// Set replaces the header named key, or appends it.
func (c HeaderCarrier) Set(key, value string) {
	for i, h := range *c.Headers {
		if strings.EqualFold(h.Key, key) {
			(*c.Headers)[i].Value = []byte(value)
			return
		}
	}
	*c.Headers = append(*c.Headers, kafka.Header{Key: key, Value: []byte(value)})
}

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(*c.Headers))
	for _, h := range *c.Headers {
		keys = append(keys, h.Key)
	}
	return keys
}
