package ports_test

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/events"
	commercev1 "github.com/affinity-platform/affinity/proto/commerce/v1"
	referralv1 "github.com/affinity-platform/affinity/proto/referral/v1"
	"github.com/affinity-platform/affinity/proto/topics"
)

func pointsSpec(n int64) *referralv1.RewardSpec {
	return &referralv1.RewardSpec{Kind: referralv1.RewardKind_REWARD_KIND_POINTS, Points: n}
}

// setClock moves the service's clock.
func (s *stack) setClock(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = t
}

func TestMarketersScheduleAndEndCampaignsOverREST(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	marketer, anna := token(t, "mkt", auth.RoleMarketer), token(t, "anna", auth.RoleCustomer)
	c, err := s.client.CreateCampaign(s.as(marketer), &referralv1.CreateCampaignRequest{IdempotencyKey: "c1", Campaign: &referralv1.Campaign{
		Name: "Summer", ReferrerReward: pointsSpec(500), EndsAt: timestamppb.New(s.clock().Add(30 * 24 * time.Hour)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Campaign.CampaignId
	start := s.clock().Add(48 * time.Hour).Truncate(time.Second)
	path := "/v1/referral/campaigns/" + id

	if code := s.rest("POST", path+":schedule", anna, "s0", map[string]any{"startsAt": start.Format(time.RFC3339)}, nil); code != 403 {
		t.Errorf("a customer scheduling = HTTP %d, want 403", code)
	}
	if code := s.rest("POST", path+":schedule", marketer, "s-past", map[string]any{"startsAt": s.clock().Add(-time.Hour).Format(time.RFC3339)}, nil); code != 400 {
		t.Errorf("scheduling in the past = HTTP %d, want 400", code)
	}
	_, err = s.client.ScheduleCampaign(s.as(marketer), &referralv1.ScheduleCampaignRequest{CampaignId: id, IdempotencyKey: "s-late", StartsAt: timestamppb.New(s.clock().Add(40 * 24 * time.Hour))})
	if f := violations(err); status.Code(err) != codes.InvalidArgument || len(f) != 1 || f[0] != "starts_at" {
		t.Errorf("scheduling after ends_at = %v naming %v, want InvalidArgument naming starts_at", status.Code(err), f)
	}
	var sched, again referralv1.ScheduleCampaignResponse
	if code := s.rest("POST", path+":schedule", marketer, "s1", map[string]any{"startsAt": start.Format(time.RFC3339)}, &sched); code != 200 {
		t.Fatalf("schedule = HTTP %d, want 200", code)
	}
	if got := sched.Campaign; got.Status != referralv1.CampaignStatus_CAMPAIGN_STATUS_SCHEDULED || !got.StartsAt.AsTime().Equal(start) {
		t.Fatalf("scheduled campaign = %v from %v, want SCHEDULED from %v", got.Status, got.StartsAt.AsTime(), start)
	}
	if code := s.rest("POST", path+":schedule", marketer, "s1", map[string]any{"startsAt": start.Format(time.RFC3339)}, &again); code != 200 || !again.Campaign.UpdatedAt.AsTime().Equal(sched.Campaign.UpdatedAt.AsTime()) {
		t.Errorf("retried schedule = HTTP %d updated %v, want 200 and the first answer (%v)", code, again.Campaign.GetUpdatedAt().AsTime(), sched.Campaign.UpdatedAt.AsTime())
	}
	if _, err := s.client.ScheduleCampaign(s.as(marketer), &referralv1.ScheduleCampaignRequest{CampaignId: id, IdempotencyKey: "s2"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("scheduling a scheduled campaign = %v, want FailedPrecondition", status.Code(err))
	}
	var list referralv1.ListCampaignsResponse
	if code := s.rest("GET", "/v1/referral/campaigns?status=CAMPAIGN_STATUS_SCHEDULED", marketer, "", nil, &list); code != 200 || len(list.Campaigns) != 1 {
		t.Errorf("scheduled campaigns = HTTP %d, %d campaigns; want 200 and 1", code, len(list.Campaigns))
	}
	if _, err := s.client.CreateReferralCode(s.as(anna), &referralv1.CreateReferralCodeRequest{IdempotencyKey: "k0", CampaignId: id, CustomerId: "anna"}); err != nil {
		t.Errorf("a code of a scheduled campaign = %v, want one issued ahead of the start", err)
	}

	// The start comes without anybody activating the campaign.
	s.setClock(start.Add(time.Minute))
	var got referralv1.GetCampaignResponse
	if code := s.rest("GET", path, marketer, "", nil, &got); code != 200 || got.Campaign.Status != referralv1.CampaignStatus_CAMPAIGN_STATUS_ACTIVE {
		t.Fatalf("campaign after its start = HTTP %d %v, want ACTIVE", code, got.Campaign.GetStatus())
	}

	var ended referralv1.EndCampaignResponse
	if code := s.rest("POST", path+":end", anna, "e0", map[string]any{}, nil); code != 403 {
		t.Errorf("a customer ending = HTTP %d, want 403", code)
	}
	if code := s.rest("POST", path+":end", marketer, "e1", map[string]any{}, &ended); code != 200 {
		t.Fatalf("end = HTTP %d, want 200", code)
	}
	if got := ended.Campaign; got.Status != referralv1.CampaignStatus_CAMPAIGN_STATUS_ENDED || !got.EndsAt.AsTime().Equal(s.clock().Truncate(time.Microsecond)) {
		t.Errorf("ended campaign = %v until %v, want ENDED now (%v)", got.Status, got.EndsAt.AsTime(), s.clock())
	}
	if code := s.rest("POST", path+":end", marketer, "e1", map[string]any{}, nil); code != 200 {
		t.Errorf("retried end = HTTP %d, want 200 (the first answer)", code)
	}
	if _, err := s.client.EndCampaign(s.as(marketer), &referralv1.EndCampaignRequest{CampaignId: id, IdempotencyKey: "e2"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("ending an ended campaign = %v, want FailedPrecondition", status.Code(err))
	}
	if _, err := s.client.EndCampaign(s.as(marketer), &referralv1.EndCampaignRequest{CampaignId: "nope", IdempotencyKey: "e3"}); status.Code(err) != codes.NotFound {
		t.Errorf("ending an unknown campaign = %v, want NotFound", status.Code(err))
	}
	if _, err := s.client.CreateReferralCode(s.as(token(t, "carl", auth.RoleCustomer)), &referralv1.CreateReferralCodeRequest{IdempotencyKey: "k1", CampaignId: id, CustomerId: "carl"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("a new code of an ended campaign = %v, want FailedPrecondition", status.Code(err))
	}
}

func TestACouponRewardWaitsForItsPoolUntilAMarketerUploadsCodes(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	marketer, anna, ben := token(t, "mkt", auth.RoleMarketer), token(t, "anna", auth.RoleCustomer), token(t, "ben", auth.RoleCustomer)
	c, err := s.client.CreateCampaign(s.as(marketer), &referralv1.CreateCampaignRequest{IdempotencyKey: "c1", Campaign: &referralv1.Campaign{
		Name: "Give 10 EUR, get 500", ReferrerReward: pointsSpec(500),
		FriendReward: &referralv1.RewardSpec{Kind: referralv1.RewardKind_REWARD_KIND_FIXED_DISCOUNT, Discount: &commercev1.Money{AmountMinor: 1000, Currency: "EUR"}, CouponPool: "welcome-10"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Campaign.CampaignId
	if _, err := s.client.ActivateCampaign(s.as(marketer), &referralv1.ActivateCampaignRequest{CampaignId: id, IdempotencyKey: "a1"}); err != nil {
		t.Fatal(err)
	}
	code, err := s.client.CreateReferralCode(s.as(anna), &referralv1.CreateReferralCodeRequest{IdempotencyKey: "k", CampaignId: id, CustomerId: "anna"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.CreateAttribution(s.as(ben), &referralv1.CreateAttributionRequest{IdempotencyKey: "k", Code: code.Code.Code, CustomerId: "ben"}); err != nil {
		t.Fatal(err)
	}
	now := s.clock()
	s.publish(events.Event{Topic: topics.CommerceOrders, Source: "shop", Subject: "ben", Payload: orderEvent(commercev1.OrderEvent_KIND_COMPLETED, "o-1", "ben", 5000, now)})
	s.eventually("ben's order to convert the referral", func() bool {
		var stage string
		return s.pool.QueryRow(s.ctx, "SELECT stage FROM referrals WHERE friend_id = 'ben'").Scan(&stage) == nil && stage == "converted"
	})
	if n, err := s.app.PayDue(s.ctx, now.Add(time.Hour), 100); err != nil || n != 1 {
		t.Fatalf("paid with an empty pool = %d, %v; want 1 (anna's points; ben's coupon waits)", n, err)
	}

	var level referralv1.GetCouponPoolResponse
	if code := s.rest("GET", "/v1/referral/coupon-pools/welcome-10", marketer, "", nil, &level); code != 200 || level.Pool.WaitingRewards != 1 || level.Pool.Available != 0 {
		t.Fatalf("empty pool = HTTP %d %v; want 200, 1 reward waiting, 0 available", code, level.Pool)
	}
	if code := s.rest("GET", "/v1/referral/coupon-pools/welcome-10", anna, "", nil, nil); code != 403 {
		t.Errorf("a customer reading a pool = HTTP %d, want 403", code)
	}
	upload := map[string]any{"codes": []string{"WELCOME-A", "WELCOME-B", "WELCOME-A"}}
	if code := s.rest("POST", "/v1/referral/coupon-pools/welcome-10/codes", anna, "u0", upload, nil); code != 403 {
		t.Errorf("a customer uploading coupons = HTTP %d, want 403", code)
	}
	var up, again referralv1.AddCouponCodesResponse
	if code := s.rest("POST", "/v1/referral/coupon-pools/welcome-10/codes", marketer, "u1", upload, &up); code != 200 || up.Added != 2 || up.Available != 2 || up.WaitingRewards != 1 {
		t.Fatalf("upload = HTTP %d, %d added, %d available, %d waiting; want 200, 2 added (a repeat skipped), 2 available, 1 waiting", code, up.Added, up.Available, up.WaitingRewards)
	}
	if code := s.rest("POST", "/v1/referral/coupon-pools/welcome-10/codes", marketer, "u1", upload, &again); code != 200 || again.Added != 2 {
		t.Errorf("retried upload = HTTP %d, %d added; want 200 and the first answer (2)", code, again.Added)
	}
	if n, err := s.app.PayDue(s.ctx, now.Add(2*time.Hour), 100); err != nil || n != 1 {
		t.Fatalf("paid after the upload = %d, %v; want ben's coupon", n, err)
	}
	var holder string
	if err := s.pool.QueryRow(s.ctx, "SELECT count(*)::text FROM coupon_codes WHERE pool = 'welcome-10' AND reward_id IS NOT NULL").Scan(&holder); err != nil || holder != "1" {
		t.Errorf("coupons given = %s (%v), want 1", holder, err)
	}
	pool, err := s.client.GetCouponPool(s.as(marketer), &referralv1.GetCouponPoolRequest{Pool: "welcome-10"})
	if p := pool.GetPool(); err != nil || p.Available != 1 || p.Given != 1 || p.WaitingRewards != 0 {
		t.Errorf("pool after paying = %v, %v; want 1 available, 1 given, none waiting", p, err)
	}
	more, err := s.client.AddCouponCodes(s.as(marketer), &referralv1.AddCouponCodesRequest{Pool: "welcome-10", IdempotencyKey: "u2", Codes: []string{"WELCOME-B", "WELCOME-C"}})
	if err != nil || more.Added != 1 || more.Available != 2 {
		t.Errorf("second upload = %v, %v; want 1 added (WELCOME-B is there) and 2 available", more, err)
	}
}

func TestInvalidCouponUploadsAndSchedulesNameTheFieldAndChangeNothing(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	marketer := s.as(token(t, "mkt", auth.RoleMarketer))
	tooMany := make([]string, 10001)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("C%d", i)
	}
	count := func() (n int) {
		if err := s.pool.QueryRow(s.ctx, "SELECT count(*) FROM coupon_codes").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	cases := []struct {
		name  string
		call  func() error
		field string
	}{
		{"an upload without codes", func() error {
			_, err := s.client.AddCouponCodes(marketer, &referralv1.AddCouponCodesRequest{Pool: "p", IdempotencyKey: "k"})
			return err
		}, "codes"},
		{"an upload over the limit", func() error {
			_, err := s.client.AddCouponCodes(marketer, &referralv1.AddCouponCodesRequest{Pool: "p", IdempotencyKey: "k", Codes: tooMany})
			return err
		}, "codes"},
		{"a code with a space", func() error {
			_, err := s.client.AddCouponCodes(marketer, &referralv1.AddCouponCodesRequest{Pool: "p", IdempotencyKey: "k", Codes: []string{"OK-1", "NOT OK"}})
			return err
		}, "codes[1]"},
		{"an upload without a pool", func() error {
			_, err := s.client.AddCouponCodes(marketer, &referralv1.AddCouponCodesRequest{IdempotencyKey: "k", Codes: []string{"OK-1"}})
			return err
		}, "pool"},
		{"an upload without an idempotency key", func() error {
			_, err := s.client.AddCouponCodes(marketer, &referralv1.AddCouponCodesRequest{Pool: "p", Codes: []string{"OK-1"}})
			return err
		}, "idempotency_key"},
		{"a schedule without a campaign", func() error {
			_, err := s.client.ScheduleCampaign(marketer, &referralv1.ScheduleCampaignRequest{IdempotencyKey: "k"})
			return err
		}, "campaign_id"},
		{"an end without a campaign", func() error {
			_, err := s.client.EndCampaign(marketer, &referralv1.EndCampaignRequest{IdempotencyKey: "k"})
			return err
		}, "campaign_id"},
		{"an unknown attribution model", func() error {
			_, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: "k", Campaign: &referralv1.Campaign{Name: "x", ReferrerReward: pointsSpec(1), AttributionModel: 9}})
			return err
		}, "campaign.attribution_model"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("code = %v (%v), want InvalidArgument", status.Code(err), err)
			}
			found := false
			for _, f := range violations(err) {
				found = found || f == tc.field
			}
			if !found {
				t.Errorf("violations %v do not name %s", violations(err), tc.field)
			}
		})
	}
	if n := count(); n != 0 {
		t.Errorf("coupon codes after the invalid calls = %d, want 0", n)
	}
}

// A friend clicks anna's link, then carl's, then signs up without a code:
// a first-click campaign credits anna, a last-click one carl; a sign-up on
// another device is matched through the click id the storefront kept.
func TestTheCampaignsAttributionModelDecidesBetweenClicks(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	marketer := s.as(token(t, "mkt", auth.RoleMarketer))
	service := s.as(token(t, "storefront", auth.RoleService))
	newCampaign := func(key string, model referralv1.AttributionModel) string {
		c, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: key, Campaign: &referralv1.Campaign{
			Name: key, ReferrerReward: pointsSpec(100), AttributionModel: model, Conditions: &referralv1.CampaignConditions{AttributionWindowDays: 7},
		}})
		if err != nil {
			t.Fatal(err)
		}
		wantModel := model
		if model == referralv1.AttributionModel_ATTRIBUTION_MODEL_UNSPECIFIED {
			wantModel = referralv1.AttributionModel_ATTRIBUTION_MODEL_LAST_CLICK
		}
		if c.Campaign.AttributionModel != wantModel {
			t.Errorf("campaign %s model = %v, want %v", key, c.Campaign.AttributionModel, wantModel)
		}
		if _, err := s.client.ActivateCampaign(marketer, &referralv1.ActivateCampaignRequest{CampaignId: c.Campaign.CampaignId, IdempotencyKey: key}); err != nil {
			t.Fatal(err)
		}
		return c.Campaign.CampaignId
	}
	codeOf := func(campaignID, customer string) string {
		c, err := s.client.CreateReferralCode(service, &referralv1.CreateReferralCodeRequest{IdempotencyKey: campaignID + customer, CampaignId: campaignID, CustomerId: customer})
		if err != nil {
			t.Fatal(err)
		}
		return c.Code.Code
	}
	click := func(code, device string, at time.Time) string {
		r, err := s.client.RecordClick(service, &referralv1.RecordClickRequest{IdempotencyKey: code + device, Code: code, DeviceId: device, OccurredAt: timestamppb.New(at)})
		if err != nil {
			t.Fatal(err)
		}
		return r.ClickId
	}
	now := s.clock()
	first := newCampaign("first", referralv1.AttributionModel_ATTRIBUTION_MODEL_FIRST_CLICK)
	last := newCampaign("last", referralv1.AttributionModel_ATTRIBUTION_MODEL_UNSPECIFIED)

	tests := []struct {
		name      string
		campaign  string
		friend    string
		signUpOn  string // device of the sign-up
		byClickID bool
		want      string
	}{
		{name: "first click credits the first link", campaign: first, friend: "f1", signUpOn: "dev-f1", want: "anna"},
		{name: "last click credits the latest link", campaign: last, friend: "f2", signUpOn: "dev-f2", want: "carl"},
		{name: "a click id links a sign-up on another device", campaign: last, friend: "f3", signUpOn: "dev-f3-app", byClickID: true, want: "anna"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			annaClick := click(codeOf(tt.campaign, "anna"), "dev-"+tt.friend, now.Add(-3*time.Hour))
			carlClick := click(codeOf(tt.campaign, "carl"), "dev-"+tt.friend, now.Add(-time.Hour))
			req := &referralv1.CreateAttributionRequest{IdempotencyKey: tt.friend, CustomerId: tt.friend, DeviceId: tt.signUpOn}
			if tt.byClickID {
				req.ClickId = annaClick
			}
			a, err := s.client.CreateAttribution(service, req)
			if err != nil {
				t.Fatal(err)
			}
			wantClick := annaClick
			if tt.want == "carl" {
				wantClick = carlClick
			}
			if got := a.Attribution; got.ReferrerCustomerId != tt.want || got.ClickId != wantClick || got.Status != referralv1.ReferralStatus_REFERRAL_STATUS_SIGNED_UP {
				t.Errorf("attribution = %s via click %s (%v), want %s via %s, signed up", got.ReferrerCustomerId, got.ClickId, got.Status, tt.want, wantClick)
			}
		})
	}
	if _, err := s.client.CreateAttribution(service, &referralv1.CreateAttributionRequest{IdempotencyKey: "f4", CustomerId: "f4", ClickId: "no-such-click"}); status.Code(err) != codes.InvalidArgument || len(violations(err)) != 1 || violations(err)[0] != "click_id" {
		t.Errorf("an unknown click id = %v naming %v, want InvalidArgument naming click_id", status.Code(err), violations(err))
	}
}

func TestPublicClicksAreRateLimitedPerIPHashAndDevice(t *testing.T) {
	t.Parallel()
	s := startStackEnv(t, map[string]string{"REFERRAL_CLICK_LIMIT": "3", "REFERRAL_CLICK_WINDOW": "1m"})
	marketer := s.as(token(t, "mkt", auth.RoleMarketer))
	c, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: "c", Campaign: &referralv1.Campaign{Name: "x", ReferrerReward: pointsSpec(1)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.ActivateCampaign(marketer, &referralv1.ActivateCampaignRequest{CampaignId: c.Campaign.CampaignId, IdempotencyKey: "a"}); err != nil {
		t.Fatal(err)
	}
	code, err := s.client.CreateReferralCode(s.as(token(t, "anna", auth.RoleCustomer)), &referralv1.CreateReferralCodeRequest{IdempotencyKey: "k", CampaignId: c.Campaign.CampaignId, CustomerId: "anna"})
	if err != nil {
		t.Fatal(err)
	}
	ref := code.Code.Code
	const ipA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	n := 0
	click := func(device, ip string) error {
		n++
		_, err := s.client.RecordClick(s.ctx, &referralv1.RecordClickRequest{IdempotencyKey: fmt.Sprint("click-", n), Code: ref, DeviceId: device, IpHash: ip})
		return err
	}
	clicks := func() (n int) {
		if err := s.pool.QueryRow(s.ctx, "SELECT count(*) FROM clicks").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := range 3 {
		if err := click("dev-1", ""); err != nil {
			t.Fatalf("click %d of dev-1 = %v, want accepted under the limit of 3", i+1, err)
		}
	}
	err = click("dev-1", "")
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("4th click of dev-1 = %v, want ResourceExhausted", err)
	}
	var retry *errdetails.RetryInfo
	var quota *errdetails.QuotaFailure
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.RetryInfo:
			retry = d
		case *errdetails.QuotaFailure:
			quota = d
		}
	}
	if retry == nil || retry.RetryDelay.AsDuration() <= 0 || retry.RetryDelay.AsDuration() > time.Minute {
		t.Errorf("retry info = %v, want a delay within the 1m window", retry)
	}
	if quota == nil || quota.Violations[0].Subject != "device_id" {
		t.Errorf("quota failure = %v, want one naming device_id", quota)
	}
	if got := s.rest("POST", "/v1/referral/codes/"+ref+"/clicks", "", "rest-1", map[string]any{"deviceId": "dev-1"}, nil); got != 429 {
		t.Errorf("REST click over the limit = HTTP %d, want 429", got)
	}
	if err := click("dev-2", ""); err != nil {
		t.Errorf("another device = %v, want accepted", err)
	}

	// Three devices behind one IP hash exhaust the IP's allowance.
	for _, d := range []string{"dev-3", "dev-4", "dev-5"} {
		if err := click(d, ipA); err != nil {
			t.Fatalf("click of %s from ip A = %v, want accepted", d, err)
		}
	}
	err = click("dev-6", ipA)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("4th click from ip A = %v, want ResourceExhausted", err)
	}
	if got := clicks(); got != 7 {
		t.Errorf("stored clicks = %d, want 7 (refused clicks store nothing)", got)
	}
	if _, err := s.client.RecordClick(s.as(token(t, "relay", auth.RoleService)), &referralv1.RecordClickRequest{IdempotencyKey: "relay", Code: ref, DeviceId: "dev-1"}); err != nil {
		t.Errorf("a service relay = %v, want platform systems not limited", err)
	}

	// The next window starts afresh.
	s.setClock(s.clock().Add(time.Minute))
	if err := click("dev-1", ipA); err != nil {
		t.Errorf("dev-1 from ip A in the next window = %v, want accepted", err)
	}
}

// Two campaigns with a 5-day window differ only in what it is measured
// from; a friend who clicked 4 days before signing up and orders 2 days
// after converts only where the window runs from the sign-up. The marketer
// then lists the rejected referrals with their reasons and evidence.
func TestMarketersListRejectedReferralsWithEvidenceAndTheWindowAnchorIsHonoured(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	marketerTok := token(t, "mkt", auth.RoleMarketer)
	marketer, service := s.as(marketerTok), s.as(token(t, "storefront", auth.RoleService))
	now := s.clock()
	newCampaign := func(key string, from referralv1.AttributionWindowFrom) string {
		c, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: key, Campaign: &referralv1.Campaign{
			Name: key, ReferrerReward: pointsSpec(100),
			Conditions: &referralv1.CampaignConditions{AttributionWindowDays: 5, AttributionWindowFrom: from},
		}})
		if err != nil {
			t.Fatal(err)
		}
		want := from
		if from == referralv1.AttributionWindowFrom_ATTRIBUTION_WINDOW_FROM_UNSPECIFIED {
			want = referralv1.AttributionWindowFrom_ATTRIBUTION_WINDOW_FROM_CLICK
		}
		if got := c.Campaign.Conditions.GetAttributionWindowFrom(); got != want {
			t.Errorf("campaign %s window from = %v, want %v", key, got, want)
		}
		if _, err := s.client.ActivateCampaign(marketer, &referralv1.ActivateCampaignRequest{CampaignId: c.Campaign.CampaignId, IdempotencyKey: key}); err != nil {
			t.Fatal(err)
		}
		return c.Campaign.CampaignId
	}
	fromClick := newCampaign("from-click", referralv1.AttributionWindowFrom_ATTRIBUTION_WINDOW_FROM_UNSPECIFIED)
	fromSignUp := newCampaign("from-signup", referralv1.AttributionWindowFrom_ATTRIBUTION_WINDOW_FROM_SIGN_UP)
	signUp := func(campaignID, friend, domain string, at time.Time) {
		c, err := s.client.CreateReferralCode(service, &referralv1.CreateReferralCodeRequest{IdempotencyKey: campaignID, CampaignId: campaignID, CustomerId: "anna"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.client.RecordClick(service, &referralv1.RecordClickRequest{IdempotencyKey: friend, Code: c.Code.Code, DeviceId: "dev-" + friend, OccurredAt: timestamppb.New(now.Add(-4 * 24 * time.Hour))}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.client.CreateAttribution(service, &referralv1.CreateAttributionRequest{IdempotencyKey: friend, Code: c.Code.Code, CustomerId: friend,
			DeviceId: "dev-" + friend, EmailDomain: domain, SignedUpAt: timestamppb.New(at)}); err != nil {
			t.Fatal(err)
		}
	}
	signUp(fromClick, "f1", "example.com", now)
	signUp(fromSignUp, "f2", "example.com", now)
	signUp(fromClick, "f3", "mailinator.com", now.Add(time.Minute))
	orderAt := now.Add(2 * 24 * time.Hour)
	for _, f := range []string{"f1", "f2"} {
		s.publish(events.Event{Topic: topics.CommerceOrders, Source: "shop", Subject: f, Payload: orderEvent(commercev1.OrderEvent_KIND_COMPLETED, "o-"+f, f, 5000, orderAt)})
	}
	stage := func(friend string) (st string) {
		_ = s.pool.QueryRow(s.ctx, "SELECT stage FROM referrals WHERE friend_id = $1", friend).Scan(&st)
		return st
	}
	s.eventually("both orders to be decided", func() bool { return stage("f1") == "rejected" && stage("f2") == "converted" })

	path := "/v1/referral/campaigns/" + fromClick + "/referrals?status=REFERRAL_STATUS_REJECTED&pageSize=1"
	var page1, page2 referralv1.ListCampaignReferralsResponse
	if code := s.rest("GET", path, marketerTok, "", nil, &page1); code != 200 || len(page1.Attributions) != 1 || page1.NextPageToken == "" {
		t.Fatalf("first page = HTTP %d with %d referrals, token %q; want 200, 1 and a next page", code, len(page1.Attributions), page1.NextPageToken)
	}
	if code := s.rest("GET", path+"&pageToken="+page1.NextPageToken, marketerTok, "", nil, &page2); code != 200 || len(page2.Attributions) != 1 || page2.NextPageToken != "" {
		t.Fatalf("second page = HTTP %d with %d referrals, token %q; want 200, 1 and the end", code, len(page2.Attributions), page2.NextPageToken)
	}
	wants := []struct{ friend, reason, evidence, value string }{
		{"f3", "disposable_email", "email_domain", "mailinator.com"},
		{"f1", "attribution_window_expired", "window_from", "click"},
	}
	for i, a := range []*referralv1.Attribution{page1.Attributions[0], page2.Attributions[0]} {
		w := wants[i]
		if a.CustomerId != w.friend || a.Status != referralv1.ReferralStatus_REFERRAL_STATUS_REJECTED || a.Decision.GetReasonCode() != w.reason || a.Decision.GetEvidence()[w.evidence] != w.value {
			t.Errorf("rejected referral %d = %s %v %s %v; want %s rejected for %s with %s=%s", i, a.CustomerId, a.Status, a.Decision.GetReasonCode(), a.Decision.GetEvidence(), w.friend, w.reason, w.evidence, w.value)
		}
	}
	all, err := s.client.ListCampaignReferrals(marketer, &referralv1.ListCampaignReferralsRequest{CampaignId: fromSignUp})
	if err != nil || len(all.Attributions) != 1 || all.Attributions[0].Status != referralv1.ReferralStatus_REFERRAL_STATUS_CONVERTED {
		t.Errorf("from-signup referrals = %v, %v; want f2 converted", all, err)
	}
	// The funnel says which rules reject, and what the pending reward commits.
	var clickStats, signUpStats referralv1.GetCampaignStatsResponse
	if code := s.rest("GET", "/v1/referral/campaigns/"+fromClick+"/stats", marketerTok, "", nil, &clickStats); code != 200 {
		t.Fatalf("stats = HTTP %d", code)
	}
	if got, want := clickStats.Stats.RejectionsByReason, map[string]int64{"disposable_email": 1, "attribution_window_expired": 1}; !maps.Equal(got, want) {
		t.Errorf("rejections by reason = %v, want %v", got, want)
	}
	if code := s.rest("GET", "/v1/referral/campaigns/"+fromSignUp+"/stats", marketerTok, "", nil, &signUpStats); code != 200 {
		t.Fatalf("stats = HTTP %d", code)
	}
	if st := signUpStats.Stats; st.BudgetPointsCommitted != 100 || st.PointsCost != 0 || len(st.RejectionsByReason) != 0 {
		t.Errorf("from-signup stats = %d committed, %d paid, rejections %v; want 100 committed to the pending reward, 0 paid, none", st.BudgetPointsCommitted, st.PointsCost, st.RejectionsByReason)
	}
	if code := s.rest("GET", "/v1/referral/campaigns/"+fromClick+"/referrals", token(t, "anna", auth.RoleCustomer), "", nil, nil); code != 403 {
		t.Errorf("a customer listing a campaign's referrals = HTTP %d, want 403", code)
	}
	if _, err := s.client.ListCampaignReferrals(marketer, &referralv1.ListCampaignReferralsRequest{CampaignId: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("an unknown campaign = %v, want NotFound", status.Code(err))
	}
	_, err = s.client.ListCampaignReferrals(marketer, &referralv1.ListCampaignReferralsRequest{CampaignId: fromClick, Status: referralv1.ReferralStatus_REFERRAL_STATUS_CLICKED})
	if f := violations(err); status.Code(err) != codes.InvalidArgument || len(f) != 1 || f[0] != "status" {
		t.Errorf("a CLICKED filter = %v naming %v, want InvalidArgument naming status", status.Code(err), f)
	}
}

// A campaign out of budget rejects a conversion; the marketer raises the
// budget (PUT of the whole campaign) and the next friend converts.
func TestMarketersUpdateACampaignsTermsAndTheNewTermsApply(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	marketerTok := token(t, "mkt", auth.RoleMarketer)
	marketer, service := s.as(marketerTok), s.as(token(t, "storefront", auth.RoleService))
	terms := &referralv1.Campaign{Name: "Tight budget", ReferrerReward: pointsSpec(100), Caps: &referralv1.CampaignCaps{BudgetPoints: 100}}
	c, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: "c", Campaign: terms})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Campaign.CampaignId
	if _, err := s.client.ActivateCampaign(marketer, &referralv1.ActivateCampaignRequest{CampaignId: id, IdempotencyKey: "a"}); err != nil {
		t.Fatal(err)
	}
	code, err := s.client.CreateReferralCode(service, &referralv1.CreateReferralCodeRequest{IdempotencyKey: "k", CampaignId: id, CustomerId: "anna"})
	if err != nil {
		t.Fatal(err)
	}
	refer := func(friend string) string {
		if _, err := s.client.CreateAttribution(service, &referralv1.CreateAttributionRequest{IdempotencyKey: friend, Code: code.Code.Code, CustomerId: friend, DeviceId: "dev-" + friend}); err != nil {
			t.Fatal(err)
		}
		s.publish(events.Event{Topic: topics.CommerceOrders, Source: "shop", Subject: friend, Payload: orderEvent(commercev1.OrderEvent_KIND_COMPLETED, "o-"+friend, friend, 5000, s.clock())})
		var st string
		s.eventually(friend+"'s order to be decided", func() bool {
			return s.pool.QueryRow(s.ctx, "SELECT stage FROM referrals WHERE friend_id = $1", friend).Scan(&st) == nil && st != "signed_up"
		})
		return st
	}
	if got := refer("f1"); got != "converted" {
		t.Fatalf("f1 = %s, want converted within the budget", got)
	}
	if got := refer("f2"); got != "rejected" {
		t.Fatalf("f2 = %s, want rejected: the budget is spent", got)
	}

	raised := map[string]any{"campaign": map[string]any{
		"name": "Roomy budget", "referrerReward": map[string]any{"kind": "REWARD_KIND_POINTS", "points": 100},
		"caps": map[string]any{"budgetPoints": 1000}, "attributionModel": "ATTRIBUTION_MODEL_FIRST_CLICK",
	}}
	if code := s.rest("PUT", "/v1/referral/campaigns/"+id, token(t, "anna", auth.RoleCustomer), "u0", raised, nil); code != 403 {
		t.Errorf("a customer updating = HTTP %d, want 403", code)
	}
	var up, again referralv1.UpdateCampaignResponse
	if code := s.rest("PUT", "/v1/referral/campaigns/"+id, marketerTok, "u1", raised, &up); code != 200 {
		t.Fatalf("update = HTTP %d, want 200", code)
	}
	got := up.Campaign
	if got.Name != "Roomy budget" || got.Caps.GetBudgetPoints() != 1000 || got.Status != referralv1.CampaignStatus_CAMPAIGN_STATUS_ACTIVE ||
		!got.CreatedAt.AsTime().Equal(c.Campaign.CreatedAt.AsTime()) || got.AttributionModel != referralv1.AttributionModel_ATTRIBUTION_MODEL_FIRST_CLICK {
		t.Errorf("updated campaign = %v, want the new name, budget and model, still active, created at %v", got, c.Campaign.CreatedAt.AsTime())
	}
	if code := s.rest("PUT", "/v1/referral/campaigns/"+id, marketerTok, "u1", raised, &again); code != 200 || !again.Campaign.UpdatedAt.AsTime().Equal(got.UpdatedAt.AsTime()) {
		t.Errorf("retried update = HTTP %d, want 200 and the first answer", code)
	}
	if got := refer("f3"); got != "converted" {
		t.Errorf("f3 after the raise = %s, want converted", got)
	}

	_, err = s.client.UpdateCampaign(marketer, &referralv1.UpdateCampaignRequest{CampaignId: id, IdempotencyKey: "u2", Campaign: &referralv1.Campaign{ReferrerReward: pointsSpec(1)}})
	if f := violations(err); status.Code(err) != codes.InvalidArgument || len(f) != 1 || f[0] != "campaign.name" {
		t.Errorf("an update without a name = %v naming %v, want InvalidArgument naming campaign.name", status.Code(err), f)
	}
	if _, err := s.client.UpdateCampaign(marketer, &referralv1.UpdateCampaignRequest{CampaignId: "nope", IdempotencyKey: "u3", Campaign: terms}); status.Code(err) != codes.NotFound {
		t.Errorf("updating an unknown campaign = %v, want NotFound", status.Code(err))
	}
	if _, err := s.client.EndCampaign(marketer, &referralv1.EndCampaignRequest{CampaignId: id, IdempotencyKey: "e"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.UpdateCampaign(marketer, &referralv1.UpdateCampaignRequest{CampaignId: id, IdempotencyKey: "u4", Campaign: terms}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("updating an ended campaign = %v, want FailedPrecondition", status.Code(err))
	}
}

func TestAScheduledCampaignKeepsNeedingAStart(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	marketer := s.as(token(t, "mkt", auth.RoleMarketer))
	terms := &referralv1.Campaign{Name: "Later", ReferrerReward: pointsSpec(100), StartsAt: timestamppb.New(s.clock().Add(24 * time.Hour))}
	c, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: "c", Campaign: terms})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.ScheduleCampaign(marketer, &referralv1.ScheduleCampaignRequest{CampaignId: c.Campaign.CampaignId, IdempotencyKey: "s"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.client.UpdateCampaign(marketer, &referralv1.UpdateCampaignRequest{CampaignId: c.Campaign.CampaignId, IdempotencyKey: "u", Campaign: &referralv1.Campaign{Name: "Later", ReferrerReward: pointsSpec(200)}})
	if f := violations(err); status.Code(err) != codes.InvalidArgument || len(f) != 1 || f[0] != "campaign.starts_at" {
		t.Errorf("dropping the start of a scheduled campaign = %v naming %v, want InvalidArgument naming campaign.starts_at", status.Code(err), f)
	}
	got, err := s.client.GetCampaign(marketer, &referralv1.GetCampaignRequest{CampaignId: c.Campaign.CampaignId})
	if err != nil || got.Campaign.ReferrerReward.GetPoints() != 100 || got.Campaign.Status != referralv1.CampaignStatus_CAMPAIGN_STATUS_SCHEDULED {
		t.Errorf("campaign after the refused update = %v, %v; want unchanged (100 points, scheduled)", got, err)
	}
}

func TestPartnersAreReportedApartFromCustomers(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	marketer, service := s.as(token(t, "mkt", auth.RoleMarketer)), s.as(token(t, "storefront", auth.RoleService))
	c, err := s.client.CreateCampaign(marketer, &referralv1.CreateCampaignRequest{IdempotencyKey: "c", Campaign: &referralv1.Campaign{Name: "x", ReferrerReward: pointsSpec(100)}})
	if err != nil {
		t.Fatal(err)
	}
	id := c.Campaign.CampaignId
	if _, err := s.client.ActivateCampaign(marketer, &referralv1.ActivateCampaignRequest{CampaignId: id, IdempotencyKey: "a"}); err != nil {
		t.Fatal(err)
	}
	partner, err := s.client.CreateReferralCode(marketer, &referralv1.CreateReferralCodeRequest{IdempotencyKey: "p", CampaignId: id, PartnerId: "glow-studio", VanityCode: "GLOW20", PartnerReward: pointsSpec(300)})
	if err != nil {
		t.Fatal(err)
	}
	anna, err := s.client.CreateReferralCode(service, &referralv1.CreateReferralCodeRequest{IdempotencyKey: "k", CampaignId: id, CustomerId: "anna"})
	if err != nil {
		t.Fatal(err)
	}
	for friend, code := range map[string]string{"f1": partner.Code.Code, "f2": partner.Code.Code, "f3": anna.Code.Code} {
		if _, err := s.client.CreateAttribution(service, &referralv1.CreateAttributionRequest{IdempotencyKey: friend, Code: code, CustomerId: friend, DeviceId: "dev-" + friend}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.client.GetCampaignStats(marketer, &referralv1.GetCampaignStatsRequest{CampaignId: id})
	if err != nil {
		t.Fatal(err)
	}
	if p := st.Stats.TopPartners; len(p) != 1 || p[0].CustomerId != "glow-studio" || !p[0].Partner || p[0].Signups != 2 {
		t.Errorf("top partners = %v, want glow-studio alone with 2 sign-ups", p)
	}
	if r := st.Stats.TopReferrers; len(r) != 2 {
		t.Errorf("top referrers = %v, want the partner and anna", r)
	}
}
