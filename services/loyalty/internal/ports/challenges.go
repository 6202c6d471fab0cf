package ports

import (
	"context"

	"github.com/affinity-platform/affinity/pkg/validate"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
	"github.com/affinity-platform/affinity/services/loyalty/internal/app"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/challenge"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
)

func challengePB(r app.Record[app.ChallengeConfig]) *loyaltyv1.Challenge {
	c := r.Value.Challenge
	return &loyaltyv1.Challenge{
		ChallengeId: c.ID, Name: c.Name, Description: r.Value.Description, Goal: goalPB[c.Goal], Target: c.Target,
		Skus: c.SKUs, Categories: c.Categories, StartsAt: ts(c.StartsAt), EndsAt: ts(c.EndsAt),
		RewardPoints: c.RewardPoints, RewardId: c.RewardID, Status: loyaltyv1.ConfigStatus(r.Value.Status),
		CreatedAt: ts(r.CreatedAt), UpdatedAt: ts(r.UpdatedAt), WindowDays: c.WindowDays, Repeatable: c.Repeatable,
	}
}

var goalPB = map[challenge.Goal]loyaltyv1.ChallengeGoal{
	challenge.GoalCount: loyaltyv1.ChallengeGoal_CHALLENGE_GOAL_ITEM_COUNT, challenge.GoalSpend: loyaltyv1.ChallengeGoal_CHALLENGE_GOAL_SPEND,
	challenge.GoalOrders: loyaltyv1.ChallengeGoal_CHALLENGE_GOAL_ORDER_COUNT,
}

func challengeOf(p *loyaltyv1.Challenge) app.ChallengeConfig {
	goal := challenge.GoalUnspecified
	for g, pg := range goalPB {
		if pg == p.GetGoal() {
			goal = g
		}
	}
	return app.ChallengeConfig{
		Challenge: challenge.Challenge{ID: p.GetChallengeId(), Name: p.GetName(), Goal: goal, Target: p.GetTarget(),
			SKUs: p.GetSkus(), Categories: p.GetCategories(), StartsAt: tm(p.GetStartsAt()), EndsAt: tm(p.GetEndsAt()),
			RewardPoints: p.GetRewardPoints(), RewardID: p.GetRewardId(), WindowDays: p.GetWindowDays(), Repeatable: p.GetRepeatable()},
		Description: p.GetDescription(), Status: earning.Status(p.GetStatus()),
	}
}

// ListChallenges pages through the challenges.
func (s *Server) ListChallenges(ctx context.Context, req *loyaltyv1.ListChallengesRequest) (*loyaltyv1.ListChallengesResponse, error) {
	size := pageSize(req.GetPageSize())
	cs, err := s.app.Challenges(ctx, earning.Status(req.GetStatus()), app.Page{Size: size + 1, After: decodeToken(req.GetPageToken())})
	if err != nil {
		return nil, grpcError(err)
	}
	out := &loyaltyv1.ListChallengesResponse{}
	if len(cs) > size {
		cs = cs[:size]
		out.NextPageToken = encodeToken(cs[size-1].Value.Challenge.ID)
	}
	for _, c := range cs {
		out.Challenges = append(out.Challenges, challengePB(c))
	}
	return out, nil
}

// GetChallenge returns one challenge.
func (s *Server) GetChallenge(ctx context.Context, req *loyaltyv1.GetChallengeRequest) (*loyaltyv1.GetChallengeResponse, error) {
	c, err := s.app.Challenge(ctx, req.GetChallengeId())
	if err != nil {
		return nil, grpcError(err)
	}
	return &loyaltyv1.GetChallengeResponse{Challenge: challengePB(c)}, nil
}

// CreateChallenge adds a challenge.
func (s *Server) CreateChallenge(ctx context.Context, req *loyaltyv1.CreateChallengeRequest) (*loyaltyv1.CreateChallengeResponse, error) {
	return do(ctx, s, loyaltyv1.LoyaltyService_CreateChallenge_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.CreateChallengeResponse, error) {
			c, err := u.CreateChallenge(ctx, challengeOf(req.GetChallenge()))
			if err != nil {
				return nil, nest("challenge", err)
			}
			return &loyaltyv1.CreateChallengeResponse{Challenge: challengePB(c)}, nil
		})
}

// UpdateChallenge changes the fields of a challenge named by update_mask.
func (s *Server) UpdateChallenge(ctx context.Context, req *loyaltyv1.UpdateChallengeRequest) (*loyaltyv1.UpdateChallengeResponse, error) {
	return do(ctx, s, loyaltyv1.LoyaltyService_UpdateChallenge_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.UpdateChallengeResponse, error) {
			c, err := u.UpdateChallenge(ctx, req.GetChallenge().GetChallengeId(), func(c *app.ChallengeConfig) error {
				p := challengePB(app.Record[app.ChallengeConfig]{Value: *c})
				if err := applyMask(p, req.GetChallenge(), req.GetUpdateMask(), "challenge"); err != nil {
					return err
				}
				*c = challengeOf(p)
				return nil
			})
			if err != nil {
				return nil, nest("challenge", err)
			}
			return &loyaltyv1.UpdateChallengeResponse{Challenge: challengePB(c)}, nil
		})
}

// ListMemberChallenges shows a member their challenges and progress.
func (s *Server) ListMemberChallenges(ctx context.Context, req *loyaltyv1.ListMemberChallengesRequest) (*loyaltyv1.ListMemberChallengesResponse, error) {
	cs, err := s.app.MemberChallenges(ctx, req.GetCustomerId())
	if err != nil {
		return nil, grpcError(err)
	}
	out := &loyaltyv1.ListMemberChallengesResponse{}
	for _, c := range cs {
		mc := &loyaltyv1.MemberChallenge{Challenge: challengePB(c.Challenge), Progress: c.Progress,
			Remaining: c.Remaining, CompletedAt: ts(c.CompletedAt), RewardPending: c.RewardPending,
			Completions: int32(c.Completions), WindowEndsAt: ts(c.WindowEndsAt)}
		if c.RewardRedemption != nil {
			mc.RewardRedemption = redemptionPB(*c.RewardRedemption)
		}
		out.Challenges = append(out.Challenges, mc)
	}
	return out, nil
}

func registerChallengeValidators(r *validate.Registry) {
	validate.Register(r, func(m *loyaltyv1.ListChallengesRequest) error {
		var vs validate.Violations
		checkPage(&vs, m.GetPageSize(), m.GetPageToken())
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.GetChallengeRequest) error {
		var vs validate.Violations
		checkID(&vs, "challenge_id", m.GetChallengeId())
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.CreateChallengeRequest) error {
		var vs validate.Violations
		checkKey(&vs, m.GetIdempotencyKey())
		if m.GetChallenge() == nil {
			vs.Add("challenge", "is required")
		}
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.UpdateChallengeRequest) error {
		var vs validate.Violations
		checkKey(&vs, m.GetIdempotencyKey())
		checkID(&vs, "challenge.challenge_id", m.GetChallenge().GetChallengeId())
		return vs.Err()
	})
	validate.Register(r, func(m *loyaltyv1.ListMemberChallengesRequest) error {
		var vs validate.Violations
		checkID(&vs, "customer_id", m.GetCustomerId())
		return vs.Err()
	})
}
