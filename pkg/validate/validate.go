// Package validate checks gRPC request messages before handlers run. A
// service registers one validator per request type; the interceptor turns
// the field violations a validator returns into codes.InvalidArgument with a
// google.rpc.BadRequest detail naming each field, which grpc-gateway
// answers as HTTP 400.
package validate

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Violation is one bad field. Field uses the proto field name path
// ("items[0].quantity"), as google.rpc.BadRequest asks.
type Violation struct {
	Field       string
	Description string
}

// Violations collects a request's bad fields; it is an error so validators
// can return it directly.
type Violations []Violation

// Add records a violation.
func (vs *Violations) Add(field, description string) {
	*vs = append(*vs, Violation{Field: field, Description: description})
}

// Err returns nil when there are no violations, and the violations
// otherwise, so a validator can end with `return vs.Err()`.
func (vs Violations) Err() error {
	if len(vs) == 0 {
		return nil
	}
	return vs
}

// Error lists the violations.
func (vs Violations) Error() string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.Field + ": " + v.Description
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

// GRPCStatus makes Violations a gRPC InvalidArgument status wherever it is
// returned, with a BadRequest detail naming each field.
func (vs Violations) GRPCStatus() *status.Status {
	st := status.New(codes.InvalidArgument, vs.Error())
	br := &errdetails.BadRequest{}
	for _, v := range vs {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
	}
	if withDetails, err := st.WithDetails(br); err == nil {
		return withDetails
	}
	return st
}

// InvalidArgument returns the gRPC InvalidArgument error for vs, the one
// way services' ports report bad input that a registered validator could
// not see (e.g. a value that parses but names no existing rule).
func InvalidArgument(vs ...Violation) error {
	return status.ErrorProto(Violations(vs).GRPCStatus().Proto())
}

// Registry maps request message types to their validators.
type Registry struct {
	byName map[protoreflect.FullName]func(proto.Message) error
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byName: map[protoreflect.FullName]func(proto.Message) error{}}
}

// Register adds fn as the validator of request type T (a generated message
// pointer such as *loyaltyv1.RedeemRequest). A second registration for the
// same type replaces the first.
func Register[T proto.Message](r *Registry, fn func(T) error) {
	var zero T
	r.byName[zero.ProtoReflect().Descriptor().FullName()] = func(m proto.Message) error {
		t, ok := m.(T)
		if !ok {
			return status.Errorf(codes.Internal, "validator for %T got %T", zero, m)
		}
		return fn(t)
	}
}

// Validate runs the validator registered for req's type, if any. The
// result is nil, or a gRPC status error: validators' Violations become
// InvalidArgument with details, status errors pass through, and any other
// error becomes InvalidArgument with its message.
func (r *Registry) Validate(req any) error {
	if r == nil {
		return nil
	}
	m, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	fn, ok := r.byName[m.ProtoReflect().Descriptor().FullName()]
	if !ok {
		return nil
	}
	err := fn(m)
	if err == nil {
		return nil
	}
	var vs Violations
	if errors.As(err, &vs) {
		if len(vs) == 0 {
			return nil
		}
		return status.ErrorProto(vs.GRPCStatus().Proto())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.InvalidArgument, err.Error())
}

// UnaryServerInterceptor validates each request before its handler runs.
func (r *Registry) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := r.Validate(req); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor validates every message a stream receives.
func (r *Registry) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &stream{ServerStream: ss, r: r})
	}
}

type stream struct {
	grpc.ServerStream
	r *Registry
}

func (s *stream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.r.Validate(m)
}
