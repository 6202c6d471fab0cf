package app

import (
	"context"
	"fmt"

	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyeventsv1 "github.com/affinity-platform/affinity/proto/loyalty/events/v1"
	segmentationeventsv1 "github.com/affinity-platform/affinity/proto/segmentation/events/v1"
	store "github.com/affinity-platform/affinity/services/referral/internal/adapters/postgres"
)

// HandleCustomer records a customer's identity evidence (sign-up time,
// e-mail and phone hashes, devices) for the fraud rules, or forgets it when
// the customer is erased. Applying the same event twice gives the same row.
func (a *App) HandleCustomer(ctx context.Context, t *Tx, eventID string, ev *commercev1.CustomerEvent) error {
	c := ev.GetCustomer()
	if c.GetCustomerId() == "" {
		return fmt.Errorf("customer event %s without customer_id: %w", eventID, ErrBadEvent)
	}
	switch ev.GetKind() {
	case commercev1.CustomerEvent_KIND_CREATED, commercev1.CustomerEvent_KIND_UPDATED:
		cust := store.Customer{ID: c.GetCustomerId(), EmailHash: c.GetEmailHash(), PhoneHash: c.GetPhoneHash(), DeviceIDs: c.GetAnonymousIds()}
		if c.GetSignedUpAt() != nil {
			cust.CustomerSince = c.GetSignedUpAt().AsTime().UTC()
		} else if ev.GetKind() == commercev1.CustomerEvent_KIND_CREATED && ev.GetOccurredAt() != nil {
			cust.CustomerSince = ev.GetOccurredAt().AsTime().UTC()
		}
		return t.store.UpsertCustomerIdentity(ctx, cust)
	case commercev1.CustomerEvent_KIND_DELETED:
		return t.store.EraseCustomer(ctx, c.GetCustomerId())
	}
	return fmt.Errorf("customer event %s of kind %v: %w", eventID, ev.GetKind(), ErrBadEvent)
}

// HandleSegmentation keeps segment membership for referrer eligibility.
func (a *App) HandleSegmentation(ctx context.Context, t *Tx, ev *segmentationeventsv1.SegmentationEvent) error {
	switch e := ev.GetEvent().(type) {
	case *segmentationeventsv1.SegmentationEvent_SegmentEntered:
		return t.store.SetSegment(ctx, e.SegmentEntered.GetCustomerId(), e.SegmentEntered.GetSegmentId(), true)
	case *segmentationeventsv1.SegmentationEvent_SegmentExited:
		return t.store.SetSegment(ctx, e.SegmentExited.GetCustomerId(), e.SegmentExited.GetSegmentId(), false)
	}
	return nil
}

// HandleLoyalty keeps each member's tier for referrer eligibility.
func (a *App) HandleLoyalty(ctx context.Context, t *Tx, ev *loyaltyeventsv1.LoyaltyEvent) error {
	if tc := ev.GetTierChanged(); tc != nil && tc.GetCustomerId() != "" {
		return t.store.SetTier(ctx, tc.GetCustomerId(), tc.GetTierId())
	}
	return nil
}
