package validate_test

import (
	"errors"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/affinity-platform/affinity/pkg/validate"
)

func newRegistry() *validate.Registry {
	r := validate.NewRegistry()
	validate.Register(r, func(m *wrapperspb.StringValue) error {
		var vs validate.Violations
		if m.GetValue() == "" {
			vs.Add("value", "must not be empty")
		}
		return vs.Err()
	})
	validate.Register(r, func(m *wrapperspb.Int64Value) error {
		if m.GetValue() < 0 {
			return errors.New("value must not be negative")
		}
		if m.GetValue() == 13 {
			return status.Error(codes.FailedPrecondition, "unlucky")
		}
		return nil
	})
	return r
}

func TestValidateMapsValidatorResultsToGRPCStatuses(t *testing.T) {
	t.Parallel()
	r := newRegistry()
	tests := []struct {
		name      string
		req       any
		wantCode  codes.Code
		wantField string
	}{
		{"a valid request passes", wrapperspb.String("x"), codes.OK, ""},
		{"violations become InvalidArgument naming the field", wrapperspb.String(""), codes.InvalidArgument, "value"},
		{"a plain error becomes InvalidArgument", wrapperspb.Int64(-1), codes.InvalidArgument, ""},
		{"a status error passes through", wrapperspb.Int64(13), codes.FailedPrecondition, ""},
		{"a type without a validator passes", wrapperspb.Bool(false), codes.OK, ""},
		{"a non-proto request passes", "text", codes.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := r.Validate(tt.req)
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("expected code %s, got %s (%v)", tt.wantCode, got, err)
			}
			if tt.wantField == "" {
				return
			}
			if got := fieldsOf(err); len(got) != 1 || got[0] != tt.wantField {
				t.Errorf("expected one BadRequest violation for %q, got %v", tt.wantField, got)
			}
		})
	}
}

func TestANilRegistryValidatesNothing(t *testing.T) {
	t.Parallel()
	var r *validate.Registry
	if err := r.Validate(wrapperspb.String("")); err != nil {
		t.Errorf("expected nil from a nil registry, got %v", err)
	}
}

func TestInvalidArgumentListsEveryField(t *testing.T) {
	t.Parallel()
	err := validate.InvalidArgument(validate.Violation{Field: "a", Description: "bad"}, validate.Violation{Field: "b.c", Description: "worse"})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("expected InvalidArgument, got %v", err)
	}
	if got := fieldsOf(err); len(got) != 2 || got[0] != "a" || got[1] != "b.c" {
		t.Errorf("expected violations for a and b.c, got %v", got)
	}
}

func fieldsOf(err error) []string {
	var fields []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}
