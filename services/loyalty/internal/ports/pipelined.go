package ports

import (
	"context"
	"fmt"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/validate"
	"github.com/affinity-platform/affinity/services/loyalty/internal/app"
)

// doPipelined is do through app.DoPipelined: the same idempotency and
// error mapping in two round trips to PostgreSQL. Redeem, the hot path
// the throughput goal is measured on, uses it.
func doPipelined[T proto.Message](ctx context.Context, s *Server, method, k string, req proto.Message, fn func(context.Context, *app.Unit) (T, error)) (T, error) {
	if k == "" {
		if v := metadata.ValueFromIncomingContext(ctx, idempotency.MetadataKey); len(v) > 0 {
			k = v[0]
		}
	}
	if k == "" || len(k) > idempotency.MaxKeyLength {
		var zero T
		return zero, validate.InvalidArgument(validate.Violation{Field: "idempotency_key",
			Description: fmt.Sprintf("is required (body field or Idempotency-Key header), at most %d bytes", idempotency.MaxKeyLength)})
	}
	resp, err := app.DoPipelined(ctx, s.app, key(ctx, method, k, req), fn)
	return resp, grpcError(err)
}
