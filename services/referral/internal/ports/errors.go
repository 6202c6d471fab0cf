package ports

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/validate"
	"github.com/affinity-platform/affinity/services/referral/internal/app"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/campaign"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/code"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/referral"
)

// toStatus maps the app's and the domain's errors to gRPC codes, once, for
// every RPC. Anything unexpected is logged and answered as Internal without
// detail.
func toStatus(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var ve *validation.Error
	var te *campaign.TransitionError
	switch {
	case errors.As(err, &ve):
		vs := make([]validate.Violation, len(ve.Violations))
		for i, v := range ve.Violations {
			vs[i] = validate.Violation{Field: v.Field, Description: v.Message}
		}
		return validate.InvalidArgument(vs...)
	case errors.Is(err, idempotency.ErrMissingKey), errors.Is(err, idempotency.ErrKeyTooLong):
		return validate.InvalidArgument(validate.Violation{Field: "idempotency_key", Description: err.Error()})
	case errors.Is(err, idempotency.ErrKeyReused), errors.Is(err, code.ErrTaken):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, campaign.ErrNotFound), errors.Is(err, code.ErrNotFound), errors.Is(err, referral.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.As(err, &te), errors.Is(err, app.ErrCampaignClosed):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	log.ErrorContext(ctx, "referral rpc failed", "err", err)
	return status.Error(codes.Internal, "internal error")
}

func statusPermission(msg string) error { return status.Error(codes.PermissionDenied, msg) }
