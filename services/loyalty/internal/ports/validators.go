package ports

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/idempotency"
	"github.com/affinity-platform/affinity/pkg/validate"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
	"github.com/affinity-platform/affinity/services/loyalty/internal/app"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/ledger"
)

const (
	// maxIDLength bounds ids clients send (customer, order, hold, reward ids).
	maxIDLength = 128
	// defaultPageSize and maxPageSize bound list pages.
	defaultPageSize = 50
	maxPageSize     = 500
)

func checkID(vs *validate.Violations, field, v string) {
	switch {
	case v == "":
		vs.Add(field, "is required")
	case len(v) > maxIDLength:
		vs.Add(field, fmt.Sprintf("must be at most %d bytes", maxIDLength))
	}
}

// checkKey checks the body's key; a missing one may still come as the
// Idempotency-Key header, which the handler looks at (requireKey).
func checkKey(vs *validate.Violations, key string) {
	if len(key) > idempotency.MaxKeyLength {
		vs.Add("idempotency_key", fmt.Sprintf("must be at most %d bytes", idempotency.MaxKeyLength))
	}
}

func checkPage(vs *validate.Violations, size int32, token string) {
	if size < 0 || size > maxPageSize {
		vs.Add("page_size", fmt.Sprintf("must be between 0 and %d, got %d", maxPageSize, size))
	}
	if token != "" {
		if _, err := base64.RawURLEncoding.DecodeString(token); err != nil {
			vs.Add("page_token", "is not a token this service issued")
		}
	}
}

// checkPeriod checks a report's optional [start_time, end_time).
func checkPeriod(vs *validate.Violations, start, end *timestamppb.Timestamp) {
	if start != nil && start.CheckValid() != nil {
		vs.Add("start_time", "is not a valid timestamp")
	}
	if end != nil && end.CheckValid() != nil {
		vs.Add("end_time", "is not a valid timestamp")
	}
	if start != nil && end != nil && !start.AsTime().Before(end.AsTime()) {
		vs.Add("end_time", "must be after start_time")
	}
}

func pageSize(n int32) int {
	if n == 0 {
		return defaultPageSize
	}
	return int(n)
}

func encodeToken(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeToken(t string) string {
	b, _ := base64.RawURLEncoding.DecodeString(t) // validated
	return string(b)
}

func seqToken(seq int64) string {
	if seq == 0 {
		return ""
	}
	return encodeToken(strconv.FormatInt(seq, 10))
}

// validators checks requests before the handlers run: every violation is
// reported with the field's proto name, and nothing has changed yet.
func validators() *validate.Registry {
	r := validate.NewRegistry()
	validate.Register(r, func(m *loyaltyv1.GetMemberRequest) error {
		var vs validate.Violations
		checkID(&vs, "customer_id", m.GetCustomerId())
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.GetMemberOffersRequest) error {
		var vs validate.Violations
		checkID(&vs, "customer_id", m.GetCustomerId())
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.GetPointsReportRequest) error {
		var vs validate.Violations
		checkPeriod(&vs, m.GetStartTime(), m.GetEndTime())
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.GetPartnerSettlementRequest) error {
		var vs validate.Violations
		checkPeriod(&vs, m.GetStartTime(), m.GetEndTime())
		if len(m.GetPartnerId()) > maxIDLength {
			vs.Add("partner_id", fmt.Sprintf("must be at most %d bytes", maxIDLength))
		}
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.GetHoldoutLiftRequest) error {
		var vs validate.Violations
		checkID(&vs, "rule_id", m.GetRuleId())
		checkPeriod(&vs, m.GetStartTime(), m.GetEndTime())
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.TransferPointsRequest) error {
		var vs validate.Violations
		checkID(&vs, "customer_id", m.GetCustomerId())
		checkKey(&vs, m.GetIdempotencyKey())
		checkID(&vs, "to_customer_id", m.GetToCustomerId())
		if m.GetToCustomerId() != "" && m.GetToCustomerId() == m.GetCustomerId() {
			vs.Add("to_customer_id", "must name another member")
		}
		if m.GetPoints() <= 0 {
			vs.Add("points", fmt.Sprintf("must be positive, got %d", m.GetPoints()))
		}
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.SetTierOverrideRequest) error {
		var vs validate.Violations
		checkID(&vs, "customer_id", m.GetCustomerId())
		checkKey(&vs, m.GetIdempotencyKey())
		checkID(&vs, "tier_id", m.GetTierId())
		if m.GetExpiresAt() == nil || m.GetExpiresAt().CheckValid() != nil {
			vs.Add("expires_at", "is required")
		}
		if m.GetReason() == "" {
			vs.Add("reason", "is required")
		}
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.ReverseRedemptionRequest) error {
		var vs validate.Violations
		checkID(&vs, "redemption_id", m.GetRedemptionId())
		checkKey(&vs, m.GetIdempotencyKey())
		if m.GetReason() == "" {
			vs.Add("reason", "is required")
		}
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.AddCouponCodesRequest) error {
		var vs validate.Violations
		checkID(&vs, "reward_id", m.GetRewardId())
		checkKey(&vs, m.GetIdempotencyKey())
		if n := len(m.GetCodes()); n == 0 || n > app.MaxCouponUpload {
			vs.Add("codes", fmt.Sprintf("must hold 1 to %d codes, got %d", app.MaxCouponUpload, n))
		}
		for i, c := range m.GetCodes() {
			if strings.TrimSpace(c) == "" || len(c) > 64 {
				vs.Add(fmt.Sprintf("codes[%d]", i), "must be 1 to 64 characters")
				break
			}
		}
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.ListTransactionsRequest) error {
		var vs validate.Violations
		checkID(&vs, "customer_id", m.GetCustomerId())
		checkPage(&vs, m.GetPageSize(), m.GetPageToken())
		if t := m.GetPageToken(); t != "" {
			if _, err := strconv.ParseInt(decodeToken(t), 10, 64); err != nil {
				vs.Add("page_token", "is not a token this service issued")
			}
		}
		for i, t := range m.GetTypes() {
			if t <= loyaltyv1.TransactionType_TRANSACTION_TYPE_UNSPECIFIED || t > loyaltyv1.TransactionType_TRANSACTION_TYPE_REVERSAL {
				vs.Add(fmt.Sprintf("types[%d]", i), "unknown transaction type")
			}
		}
		if s, e := m.GetStartTime(), m.GetEndTime(); s != nil && e != nil && !e.AsTime().After(s.AsTime()) {
			vs.Add("end_time", "must be after start_time")
		}
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.EarnRequest) error {
		var vs validate.Violations
		checkID(&vs, "customer_id", m.GetCustomerId())
		checkKey(&vs, m.GetIdempotencyKey())
		checkID(&vs, "order_id", m.GetOrderId())
		if len(m.GetLines()) == 0 {
			vs.Add("lines", "at least one line is required")
		}
		if len(m.GetLines()) > earning.MaxLines {
			vs.Add("lines", fmt.Sprintf("at most %d lines", earning.MaxLines))
		}
		for i, l := range m.GetLines() {
			f := fmt.Sprintf("lines[%d]", i)
			if l.GetLineId() == "" {
				vs.Add(f+".line_id", "is required")
			}
			if l.GetQuantity() <= 0 {
				vs.Add(f+".quantity", fmt.Sprintf("must be positive, got %d", l.GetQuantity()))
			}
			if l.GetUnitPrice().GetAmountMinor() < 0 {
				vs.Add(f+".unit_price.amount_minor", "must not be negative")
			}
			if l.GetDiscount().GetAmountMinor() < 0 {
				vs.Add(f+".discount.amount_minor", "must not be negative")
			}
		}
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.RedeemRequest) error {
		var vs validate.Violations
		checkID(&vs, "customer_id", m.GetCustomerId())
		checkKey(&vs, m.GetIdempotencyKey())
		switch t := m.GetTarget().(type) {
		case *loyaltyv1.RedeemRequest_RewardId:
			checkID(&vs, "reward_id", t.RewardId)
		case *loyaltyv1.RedeemRequest_Points:
			if t.Points <= 0 {
				vs.Add("points", fmt.Sprintf("must be positive, got %d", t.Points))
			}
		default:
			vs.Add("reward_id", "set reward_id or points")
		}
		if len(m.GetOrderId()) > maxIDLength {
			vs.Add("order_id", fmt.Sprintf("must be at most %d bytes", maxIDLength))
		}
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.CreateHoldRequest) error {
		var vs validate.Violations
		checkID(&vs, "customer_id", m.GetCustomerId())
		checkKey(&vs, m.GetIdempotencyKey())
		if m.GetPoints() <= 0 {
			vs.Add("points", fmt.Sprintf("must be positive, got %d", m.GetPoints()))
		}
		if d := m.GetTtl(); d != nil && (d.AsDuration() <= 0 || d.AsDuration() > ledger.MaxHoldTTL) {
			vs.Add("ttl", fmt.Sprintf("must be within (0, %s]", ledger.MaxHoldTTL))
		}
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.CaptureHoldRequest) error {
		var vs validate.Violations
		checkID(&vs, "hold_id", m.GetHoldId())
		checkID(&vs, "customer_id", m.GetCustomerId())
		checkKey(&vs, m.GetIdempotencyKey())
		if m.GetPoints() < 0 {
			vs.Add("points", fmt.Sprintf("must not be negative, got %d", m.GetPoints()))
		}
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.ReleaseHoldRequest) error {
		var vs validate.Violations
		checkID(&vs, "hold_id", m.GetHoldId())
		checkID(&vs, "customer_id", m.GetCustomerId())
		checkKey(&vs, m.GetIdempotencyKey())
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.CreateAdjustmentRequest) error {
		var vs validate.Violations
		checkID(&vs, "customer_id", m.GetCustomerId())
		checkKey(&vs, m.GetIdempotencyKey())
		if m.GetPoints() == 0 {
			vs.Add("points", "must not be zero")
		}
		if m.GetReason() == loyaltyv1.AdjustmentReason_ADJUSTMENT_REASON_UNSPECIFIED {
			vs.Add("reason", "is required")
		}
		if m.GetReason() == loyaltyv1.AdjustmentReason_ADJUSTMENT_REASON_OTHER && m.GetNote() == "" {
			vs.Add("note", "is required when the reason is OTHER")
		}
		if len(m.GetNote()) > 1000 {
			vs.Add("note", "must be at most 1000 bytes")
		}
		return vs.Err()
	})
	list := func(size int32, token string) error {
		var vs validate.Violations
		checkPage(&vs, size, token)
		return vs.Err()
	}
	validate.Register(r, func(m *loyaltyv1.ListRewardsRequest) error { return list(m.GetPageSize(), m.GetPageToken()) })
	validate.Register(r, func(m *loyaltyv1.ListEarningRulesRequest) error { return list(m.GetPageSize(), m.GetPageToken()) })
	validate.Register(r, func(m *loyaltyv1.GetRewardRequest) error {
		var vs validate.Violations
		checkID(&vs, "reward_id", m.GetRewardId())
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.GetEarningRuleRequest) error {
		var vs validate.Violations
		checkID(&vs, "rule_id", m.GetRuleId())
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.GetTierRequest) error {
		var vs validate.Violations
		checkID(&vs, "tier_id", m.GetTierId())
		return vs.Err()
	})
	created := func(key string, present bool, field string) error {
		var vs validate.Violations
		checkKey(&vs, key)
		if !present {
			vs.Add(field, "is required")
		}
		return vs.Err()
	}
	validate.Register(r, func(m *loyaltyv1.CreateRewardRequest) error {
		return created(m.GetIdempotencyKey(), m.GetReward() != nil, "reward")
	})
	validate.Register(r, func(m *loyaltyv1.CreateEarningRuleRequest) error {
		return created(m.GetIdempotencyKey(), m.GetRule() != nil, "rule")
	})
	validate.Register(r, func(m *loyaltyv1.CreateTierRequest) error {
		return created(m.GetIdempotencyKey(), m.GetTier() != nil, "tier")
	})
	validate.Register(r, func(m *loyaltyv1.UpdateRewardRequest) error {
		var vs validate.Violations
		checkKey(&vs, m.GetIdempotencyKey())
		checkID(&vs, "reward.reward_id", m.GetReward().GetRewardId())
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.UpdateEarningRuleRequest) error {
		var vs validate.Violations
		checkKey(&vs, m.GetIdempotencyKey())
		checkID(&vs, "rule.rule_id", m.GetRule().GetRuleId())
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.UpdateTierRequest) error {
		var vs validate.Violations
		checkKey(&vs, m.GetIdempotencyKey())
		checkID(&vs, "tier.tier_id", m.GetTier().GetTierId())
		return vs.Err()
	})
	registerProgramValidators(r)
	registerChallengeValidators(r)
	return r
}
