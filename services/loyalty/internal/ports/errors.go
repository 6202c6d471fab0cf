package ports

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/validate"
	"github.com/affinity-platform/affinity/services/loyalty/internal/app"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/reward"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/tier"
)

// grpcError maps the errors of the app and domain layers to gRPC status
// codes, in this one place. Anything unknown is Internal with no detail (the
// interceptors log it).
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var ve *validation.Error
	if errors.As(err, &ve) {
		vs := make([]validate.Violation, len(ve.Violations))
		for i, v := range ve.Violations {
			vs[i] = validate.Violation{Field: v.Field, Description: v.Message}
		}
		return validate.InvalidArgument(vs...)
	}
	var ip *ledger.InsufficientPointsError
	switch {
	case errors.Is(err, idempotency.ErrMissingKey), errors.Is(err, idempotency.ErrKeyTooLong):
		return validate.InvalidArgument(validate.Violation{Field: "idempotency_key", Description: err.Error()})
	case errors.Is(err, idempotency.ErrKeyReused):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, app.ErrOrderAlreadyEarned):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.As(err, &ip):
		return status.Error(codes.FailedPrecondition, ip.Error())
	case errors.Is(err, app.ErrNotFound), errors.Is(err, reward.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, tier.ErrUnknownTier):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, ledger.ErrHoldClosed), errors.Is(err, ledger.ErrHoldExpired), errors.Is(err, ledger.ErrNotReversible),
		errors.Is(err, reward.ErrNotActive), errors.Is(err, reward.ErrNotYetValid), errors.Is(err, reward.ErrExpired),
		errors.Is(err, reward.ErrOutOfStock), errors.Is(err, reward.ErrMemberLimit), errors.Is(err, reward.ErrTierRestricted),
		errors.Is(err, reward.ErrNotEnoughPoints), errors.Is(err, reward.ErrCouponPoolEmpty), errors.Is(err, reward.ErrAlreadyReversed),
		errors.Is(err, earning.ErrPartnerInactive), errors.Is(err, money.ErrCurrencyMismatch):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, app.ErrTransfersDisabled):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, app.ErrBudgetExhausted):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, money.ErrOverflow):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	// Not an expected outcome: the logging interceptor records the cause.
	return status.Error(codes.Internal, err.Error())
}
