package events_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/affinity-platform/affinity/pkg/events"
	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestMain(m *testing.M) {
	// The global propagator is a no-op until telemetry sets it; services get
	// W3C trace context, so the tests do too.
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	os.Exit(m.Run())
}

func remoteSpan(t *testing.T) (context.Context, trace.SpanContext) {
	t.Helper()
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	return trace.ContextWithSpanContext(context.Background(), sc), sc
}

func TestEncodeThenParseRoundTripsTheEnvelope(t *testing.T) {
	t.Parallel()
	ctx, sc := remoteSpan(t)
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name    string
		ev      events.Event
		wantKey string
		wantTyp string
	}{
		{
			name:    "all fields set are kept",
			ev:      events.Event{ID: "0193d1a0-0000-7000-8000-000000000001", Type: "custom.Type", Source: "loyalty", Subject: "cust-1", Topic: "loyalty.events.v1", Key: "k-1", Time: at, Payload: wrapperspb.String("hello")},
			wantKey: "k-1",
			wantTyp: "custom.Type",
		},
		{
			name:    "type defaults to the payload's full name and key to the subject",
			ev:      events.Event{Source: "referral", Subject: "cust-2", Topic: "referral.events.v1", Time: at, Payload: wrapperspb.Int64(42)},
			wantKey: "cust-2",
			wantTyp: "google.protobuf.Int64Value",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			km, err := events.Encode(ctx, tc.ev)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			km.Partition, km.Offset = 3, 17
			m, err := events.Parse(km)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tc.ev.ID != "" && m.ID != tc.ev.ID {
				t.Errorf("ID: expected %q, got %q", tc.ev.ID, m.ID)
			}
			if id, err := uuid.Parse(m.ID); err != nil {
				t.Errorf("ID %q is not a UUID: %v", m.ID, err)
			} else if tc.ev.ID == "" && id.Version() != 7 {
				t.Errorf("ID version: expected 7, got %d", id.Version())
			}
			if m.Type != tc.wantTyp {
				t.Errorf("Type: expected %q, got %q", tc.wantTyp, m.Type)
			}
			if m.Source != tc.ev.Source || m.Subject != tc.ev.Subject || m.Topic != tc.ev.Topic {
				t.Errorf("Source/Subject/Topic: expected %q/%q/%q, got %q/%q/%q", tc.ev.Source, tc.ev.Subject, tc.ev.Topic, m.Source, m.Subject, m.Topic)
			}
			if m.Key != tc.wantKey {
				t.Errorf("Key: expected %q, got %q", tc.wantKey, m.Key)
			}
			if !m.Time.Equal(at) {
				t.Errorf("Time: expected %v, got %v", at, m.Time)
			}
			if m.ContentType != events.ContentTypeProtobuf {
				t.Errorf("ContentType: expected %q, got %q", events.ContentTypeProtobuf, m.ContentType)
			}
			if m.Partition != 3 || m.Offset != 17 {
				t.Errorf("position: expected 3@17, got %d@%d", m.Partition, m.Offset)
			}
			got := trace.SpanContextFromContext(m.Context(context.Background()))
			if got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsRemote() {
				t.Errorf("trace context: expected remote %s/%s, got %s/%s remote=%v", sc.TraceID(), sc.SpanID(), got.TraceID(), got.SpanID(), got.IsRemote())
			}
			dst := tc.ev.Payload.ProtoReflect().New().Interface()
			if err := m.Decode(dst); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !proto.Equal(dst, tc.ev.Payload) {
				t.Errorf("payload: expected %v, got %v", tc.ev.Payload, dst)
			}
		})
	}
}

func TestHeadersUseTheDocumentedNames(t *testing.T) {
	t.Parallel()
	ctx, _ := remoteSpan(t)
	km, err := events.Encode(ctx, events.Event{Source: "loyalty", Subject: "c", Topic: "t", Payload: wrapperspb.Bool(true)})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	got := map[string]string{}
	for _, h := range km.Headers {
		got[h.Key] = string(h.Value)
	}
	for _, name := range []string{"ce_id", "ce_type", "ce_source", "ce_time", "ce_subject", "content-type", "traceparent"} {
		if got[name] == "" {
			t.Errorf("header %q: expected a value, got none (headers %v)", name, got)
		}
	}
	if want := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; got["traceparent"] != want {
		t.Errorf("traceparent: expected %q, got %q", want, got["traceparent"])
	}
	if _, err := time.Parse(time.RFC3339Nano, got["ce_time"]); err != nil || !strings.HasSuffix(got["ce_time"], "Z") {
		t.Errorf("ce_time: expected RFC 3339 UTC, got %q (%v)", got["ce_time"], err)
	}
}

func TestEncodeRejectsIncompleteEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   events.Event
		want string
	}{
		{"without a topic", events.Event{Source: "s", Payload: wrapperspb.Bool(true)}, "topic is required"},
		{"without a source", events.Event{Topic: "t", Payload: wrapperspb.Bool(true)}, "source is required"},
		{"without a payload", events.Event{Topic: "t", Source: "s"}, "payload is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := events.Encode(context.Background(), tc.ev)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("expected an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestDecodeChoosesTheCodecByContentType(t *testing.T) {
	t.Parallel()
	payload, err := structpb.NewStruct(map[string]any{"orderId": "o-1", "total": 1250.0, "items": []any{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	bin, err := proto.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	enumValue := &descriptorpb.EnumValueDescriptorProto{Name: proto.String("GOLD"), Number: proto.Int32(3)}
	tests := []struct {
		name        string
		contentType string
		value       []byte
		dst         proto.Message
		want        proto.Message
		wantErr     string
	}{
		{"protobuf binary", "application/protobuf", bin, &structpb.Struct{}, payload, ""},
		{"the x-protobuf alias", "application/x-protobuf", bin, &structpb.Struct{}, payload, ""},
		{"a missing content type as protobuf", "", bin, &structpb.Struct{}, payload, ""},
		{"protojson", "application/json", js, &structpb.Struct{}, payload, ""},
		{"protojson with parameters and odd case", "Application/JSON; charset=utf-8", js, &structpb.Struct{}, payload, ""},
		{"protojson with unknown fields discarded", "application/json", []byte(`{"name":"GOLD","number":3,"addedLater":1}`), &descriptorpb.EnumValueDescriptorProto{}, enumValue, ""},
		{"an unsupported content type as an error naming the header", "text/plain", []byte("hi"), &structpb.Struct{}, nil, `content-type="text/plain"`},
		{"bad JSON as an error naming the header", "application/json", []byte("{"), &structpb.Struct{}, nil, `content-type="application/json"`},
		{"bad protobuf as an error", "application/protobuf", []byte{0xff, 0xff}, &structpb.Struct{}, nil, "as protobuf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := events.Message{Topic: "t", ContentType: tc.contentType, Value: tc.value}
			err := m.Decode(tc.dst)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("expected an error containing %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("expected no error, got %v", err)
			}
			if !proto.Equal(tc.dst, tc.want) {
				t.Errorf("expected %v, got %v", tc.want, tc.dst)
			}
		})
	}
}

func TestDecodeOfAnUnsupportedContentTypeWrapsTheSentinel(t *testing.T) {
	t.Parallel()
	err := events.Message{ContentType: "application/avro"}.Decode(&structpb.Struct{})
	if !errors.Is(err, events.ErrUnsupportedContentType) {
		t.Errorf("expected errors.Is(err, ErrUnsupportedContentType), got %v", err)
	}
}

func TestParseReportsABadTimeHeaderButKeepsTheRest(t *testing.T) {
	t.Parallel()
	m, err := events.Parse(kafka.Message{Topic: "t", Headers: []kafka.Header{
		{Key: "ce_id", Value: []byte("id-1")},
		{Key: "ce_time", Value: []byte("yesterday")},
	}})
	if err == nil || !strings.Contains(err.Error(), "ce_time") {
		t.Errorf("expected an error naming ce_time, got %v", err)
	}
	if m.ID != "id-1" {
		t.Errorf("ID: expected %q, got %q", "id-1", m.ID)
	}
}

func TestInjectTraceReplacesAnExistingTraceparent(t *testing.T) {
	t.Parallel()
	ctx, _ := remoteSpan(t)
	hs := events.InjectTrace(ctx, []kafka.Header{{Key: "traceparent", Value: []byte("stale")}})
	n := 0
	for _, h := range hs {
		if h.Key == "traceparent" {
			n++
			if string(h.Value) == "stale" {
				t.Errorf("expected the stale traceparent to be replaced, it was kept")
			}
		}
	}
	if n != 1 {
		t.Errorf("expected exactly one traceparent header, got %d", n)
	}
}

func FuzzDecode(f *testing.F) {
	s, _ := structpb.NewStruct(map[string]any{"a": 1.0, "b": "x"})
	bin, _ := proto.Marshal(s)
	js, _ := protojson.Marshal(s)
	f.Add("application/protobuf", bin)
	f.Add("application/json", js)
	f.Add("", []byte{0x0a, 0x00})
	f.Add("application/json; charset=utf-8", []byte(`{"fields":{}}`))
	f.Add("text/plain", []byte("x"))
	f.Fuzz(func(t *testing.T, contentType string, value []byte) {
		m := events.Message{Topic: "fuzz", ContentType: contentType, Value: value}
		dst := &structpb.Struct{}
		if err := m.Decode(dst); err != nil {
			if !strings.Contains(err.Error(), "fuzz") {
				t.Fatalf("error does not say which message failed: %v", err)
			}
			return
		}
		// What decoded must encode again: Decode never yields a message
		// the rest of the pipeline cannot handle.
		if _, err := proto.Marshal(dst); err != nil {
			t.Fatalf("decoded message does not marshal: %v", err)
		}
		if !events.SupportedContentType(contentType) {
			t.Fatalf("Decode accepted content type %q that SupportedContentType rejects", contentType)
		}
	})
}
