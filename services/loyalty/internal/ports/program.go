package ports

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/affinity-platform/affinity/pkg/auth"
	validation "github.com/affinity-platform/affinity/pkg/fielderr"
	"github.com/affinity-platform/affinity/pkg/validate"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
	"github.com/affinity-platform/affinity/services/loyalty/internal/app"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/earning"
	"github.com/affinity-platform/affinity/services/loyalty/internal/domain/money"
)

// programWritable are the ProgramSettings fields UpdateProgram changes;
// the others (currency, version, updated_at, updated_by) are the service's.
var programWritable = map[protoreflect.Name]bool{"base_rate": true, "excluded_skus": true, "excluded_categories": true,
	"min_order_value": true, "return_window": true, "redemption_rate": true}

func settingsPB(r app.SettingsRecord, currency string) *loyaltyv1.ProgramSettings {
	s := r.Settings
	return &loyaltyv1.ProgramSettings{
		Currency:     currency,
		BaseRate:     &loyaltyv1.EarnRate{Points: s.BaseRate.Points, Per: moneyPB(s.BaseRate.Per), Rounding: loyaltyv1.Rounding(s.BaseRate.Rounding + 1)},
		ExcludedSkus: s.ExcludedSKUs, ExcludedCategories: s.ExcludedCategories,
		MinOrderValue:  &commercev1.Money{AmountMinor: s.MinOrderValue, Currency: currency},
		ReturnWindow:   durationpb.New(s.ReturnWindow),
		RedemptionRate: &loyaltyv1.RedemptionRate{Points: s.Conversion.Points, Value: moneyPB(s.Conversion.Value)},
		Version:        r.Version, UpdatedAt: ts(r.UpdatedAt), UpdatedBy: r.UpdatedBy,
	}
}

// settingsOf maps the writable fields back to the app's settings.
func settingsOf(p *loyaltyv1.ProgramSettings, currency string) (app.Settings, error) {
	var v validation.Collector
	rounding := money.RoundDown
	if r := p.GetBaseRate().GetRounding(); r > loyaltyv1.Rounding_ROUNDING_UNSPECIFIED {
		rounding = money.Rounding(r - 1)
	}
	if c := p.GetMinOrderValue().GetCurrency(); c != "" && c != currency {
		v.Add("min_order_value.currency", "must be the program currency %s, got %q", currency, c)
	}
	s := app.Settings{
		BaseRate:     earning.Rate{Points: p.GetBaseRate().GetPoints(), Per: moneyOf(p.GetBaseRate().GetPer()), Rounding: rounding},
		ExcludedSKUs: p.GetExcludedSkus(), ExcludedCategories: p.GetExcludedCategories(),
		MinOrderValue: p.GetMinOrderValue().GetAmountMinor(), ReturnWindow: p.GetReturnWindow().AsDuration(),
		Conversion: money.Conversion{Points: p.GetRedemptionRate().GetPoints(), Value: moneyOf(p.GetRedemptionRate().GetValue())},
	}
	if s.ExcludedSKUs == nil {
		s.ExcludedSKUs = []string{}
	}
	if s.ExcludedCategories == nil {
		s.ExcludedCategories = []string{}
	}
	if p.GetReturnWindow() != nil {
		if err := p.GetReturnWindow().CheckValid(); err != nil {
			v.Add("return_window", "%v", err)
		}
	}
	return s, v.Err()
}

// GetProgram returns the program settings.
func (s *Server) GetProgram(ctx context.Context, _ *loyaltyv1.GetProgramRequest) (*loyaltyv1.GetProgramResponse, error) {
	r, err := s.app.Program(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	return &loyaltyv1.GetProgramResponse{Program: settingsPB(r, s.app.Config().Program.Currency)}, nil
}

// UpdateProgram changes the settings named by update_mask, or, without a
// mask, the writable fields the request sets (lists can only be emptied by
// naming them in the mask, since an empty list is indistinguishable from an
// absent one).
func (s *Server) UpdateProgram(ctx context.Context, req *loyaltyv1.UpdateProgramRequest) (*loyaltyv1.UpdateProgramResponse, error) {
	cur := s.app.Config().Program.Currency
	c, _ := auth.ClaimsFrom(ctx)
	return do(ctx, s, loyaltyv1.LoyaltyService_UpdateProgram_FullMethodName, req.GetIdempotencyKey(), req,
		func(ctx context.Context, u *app.Unit) (*loyaltyv1.UpdateProgramResponse, error) {
			r, err := u.UpdateProgram(ctx, c.Subject, func(st *app.Settings) error {
				p := settingsPB(app.SettingsRecord{Settings: *st}, cur)
				if err := applyProgramMask(p, req); err != nil {
					return err
				}
				next, err := settingsOf(p, cur)
				if err != nil {
					return err
				}
				*st = next
				return nil
			})
			if err != nil {
				return nil, nest("program", err)
			}
			return &loyaltyv1.UpdateProgramResponse{Program: settingsPB(r, cur)}, nil
		})
}

func applyProgramMask(dst *loyaltyv1.ProgramSettings, req *loyaltyv1.UpdateProgramRequest) error {
	d, sm := dst.ProtoReflect(), req.GetProgram().ProtoReflect()
	fields := d.Descriptor().Fields()
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		sm.Range(func(f protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			if programWritable[f.Name()] {
				paths = append(paths, string(f.Name()))
			}
			return true
		})
		if len(paths) == 0 {
			return validation.Field("update_mask", "names no field and the request sets none of %s", "base_rate, excluded_skus, excluded_categories, min_order_value, return_window, redemption_rate")
		}
	}
	for i, p := range paths {
		f := fields.ByName(protoreflect.Name(p))
		if f == nil || !programWritable[f.Name()] {
			return validation.Field(fmt.Sprintf("update_mask.paths[%d]", i), "%q is not a writable field of program", p)
		}
		if sm.Has(f) {
			d.Set(f, sm.Get(f))
		} else {
			d.Clear(f)
		}
	}
	return nil
}

func registerProgramValidators(r *validate.Registry) {
	validate.Register(r, func(m *loyaltyv1.UpdateProgramRequest) error {
		var vs validate.Violations
		checkKey(&vs, m.GetIdempotencyKey())
		if m.GetProgram() == nil {
			vs.Add("program", "is required")
		}
		set := 0
		m.GetProgram().ProtoReflect().Range(func(f protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			if programWritable[f.Name()] {
				set++
			}
			return true
		})
		for i, p := range m.GetUpdateMask().GetPaths() {
			if !programWritable[protoreflect.Name(p)] {
				vs.Add(fmt.Sprintf("update_mask.paths[%d]", i), fmt.Sprintf("%q is not a writable field of program", p))
			}
		}
		if len(m.GetUpdateMask().GetPaths()) == 0 && set == 0 && m.GetProgram() != nil {
			vs.Add("update_mask", "names no field and the program sets none of base_rate, excluded_skus, excluded_categories, "+
				"min_order_value, return_window, redemption_rate")
		}
		return vs.Err()
	})
}
