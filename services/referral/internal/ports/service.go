// Package ports turns gRPC and REST calls and Kafka messages into the
// referral service's commands and queries, and declares who may call what.
package ports

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/platform"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/affinity-platform/affinity/proto/openapi"
	referralv1 "github.com/affinity-platform/affinity/proto/referral/v1"
	"github.com/affinity-platform/affinity/services/referral/db"
	"github.com/affinity-platform/affinity/services/referral/internal/app"
	"github.com/affinity-platform/affinity/services/referral/internal/domain/fraud"
)

// Name is the service's name in logs, telemetry and consumer groups.
const Name = "referral"

// anyone is every authenticated role: reads of the program's public
// configuration need a token but no particular role.
var anyone = []auth.Role{auth.RoleCustomer, auth.RoleMarketer, auth.RoleService, auth.RolePartner}

// Policy says who may call each RPC. A method missing here is denied; the
// policy test fails when an RPC of the contract has no rule.
func Policy() auth.Policy {
	return auth.Policy{
		referralv1.ReferralService_CreateCampaign_FullMethodName:     {Roles: []auth.Role{auth.RoleMarketer}},
		referralv1.ReferralService_ListCampaigns_FullMethodName:      {Roles: []auth.Role{auth.RoleMarketer, auth.RoleService}},
		referralv1.ReferralService_GetCampaign_FullMethodName:        {Roles: anyone},
		referralv1.ReferralService_ActivateCampaign_FullMethodName:   {Roles: []auth.Role{auth.RoleMarketer}},
		referralv1.ReferralService_PauseCampaign_FullMethodName:      {Roles: []auth.Role{auth.RoleMarketer}},
		referralv1.ReferralService_ScheduleCampaign_FullMethodName:   {Roles: []auth.Role{auth.RoleMarketer}},
		referralv1.ReferralService_UpdateCampaign_FullMethodName:     {Roles: []auth.Role{auth.RoleMarketer}},
		referralv1.ReferralService_EndCampaign_FullMethodName:        {Roles: []auth.Role{auth.RoleMarketer}},
		referralv1.ReferralService_AddCouponCodes_FullMethodName:     {Roles: []auth.Role{auth.RoleMarketer}},
		referralv1.ReferralService_GetCouponPool_FullMethodName:      {Roles: []auth.Role{auth.RoleMarketer, auth.RoleService}},
		referralv1.ReferralService_CreateReferralCode_FullMethodName: {Roles: []auth.Role{auth.RoleCustomer, auth.RoleMarketer, auth.RoleService, auth.RolePartner}, SelfField: "customer_id"},
		// A click comes from a friend's browser before anybody has an
		// account; fraud rules, not tokens, guard it.
		referralv1.ReferralService_RecordClick_FullMethodName: {Public: true},
		// customer_id of an attribution is the friend who signed up.
		referralv1.ReferralService_CreateAttribution_FullMethodName: {Roles: []auth.Role{auth.RoleCustomer, auth.RoleService}, SelfField: "customer_id"},
		referralv1.ReferralService_GetCampaignStats_FullMethodName:  {Roles: []auth.Role{auth.RoleMarketer}},
		// Friends' ids and fraud evidence: marketers and platform systems only.
		referralv1.ReferralService_ListCampaignReferrals_FullMethodName: {Roles: []auth.Role{auth.RoleMarketer, auth.RoleService}},
		referralv1.ReferralService_ListCustomerReferrals_FullMethodName: {Roles: []auth.Role{auth.RoleCustomer, auth.RoleMarketer, auth.RoleService}, SelfField: "customer_id"},
	}
}

// Config are the referral service's own settings, read from the
// environment beside the platform's.
type Config struct {
	// WorkerInterval is how often due rewards are paid and nudges emitted.
	WorkerInterval time.Duration `env:"REFERRAL_WORKER_INTERVAL" envDefault:"10s"`
	// WorkerBatch is the most referrals one worker run handles.
	WorkerBatch int `env:"REFERRAL_WORKER_BATCH" envDefault:"500"`
	// MaxSignUpsPerIP and IPWindow bound referred sign-ups from one IP hash (0 disables).
	MaxSignUpsPerIP int           `env:"REFERRAL_MAX_SIGNUPS_PER_IP" envDefault:"3"`
	IPWindow        time.Duration `env:"REFERRAL_IP_WINDOW" envDefault:"24h"`
	// MaxSignUpsPerDevice and DeviceWindow bound referred sign-ups from one device (0 disables).
	MaxSignUpsPerDevice int           `env:"REFERRAL_MAX_SIGNUPS_PER_DEVICE" envDefault:"2"`
	DeviceWindow        time.Duration `env:"REFERRAL_DEVICE_WINDOW" envDefault:"24h"`
	// ExistingCustomerGrace tolerates an account created shortly before the referral touch.
	ExistingCustomerGrace time.Duration `env:"REFERRAL_EXISTING_CUSTOMER_GRACE" envDefault:"1h"`
	// ClickLimit and ClickWindow bound public RecordClick calls per IP hash
	// and per device id (0 disables); over it the answer is ResourceExhausted.
	ClickLimit  int           `env:"REFERRAL_CLICK_LIMIT" envDefault:"20"`
	ClickWindow time.Duration `env:"REFERRAL_CLICK_WINDOW" envDefault:"1m"`
	// DisposableDomains are added to the built-in list of throwaway e-mail domains.
	DisposableDomains []string `env:"REFERRAL_DISPOSABLE_DOMAINS" envSeparator:","`
}

// Validate reports settings the service cannot run with.
func (c Config) Validate() error {
	var errs []error
	if c.WorkerInterval <= 0 {
		errs = append(errs, fmt.Errorf("REFERRAL_WORKER_INTERVAL must be positive, got %s", c.WorkerInterval))
	}
	if c.WorkerBatch < 1 {
		errs = append(errs, fmt.Errorf("REFERRAL_WORKER_BATCH must be at least 1, got %d", c.WorkerBatch))
	}
	if c.ClickLimit < 0 {
		errs = append(errs, fmt.Errorf("REFERRAL_CLICK_LIMIT must not be negative, got %d", c.ClickLimit))
	}
	if c.ClickLimit > 0 && c.ClickWindow <= 0 {
		errs = append(errs, fmt.Errorf("REFERRAL_CLICK_WINDOW must be positive, got %s", c.ClickWindow))
	}
	if err := c.fraudPolicy().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("REFERRAL_* fraud settings: %w", err))
	}
	return errors.Join(errs...)
}

func (c Config) fraudPolicy() fraud.Policy {
	return fraud.Policy{
		MaxSignUpsPerIP: c.MaxSignUpsPerIP, IPWindow: c.IPWindow,
		MaxSignUpsPerDevice: c.MaxSignUpsPerDevice, DeviceWindow: c.DeviceWindow,
		ExistingCustomerGrace: c.ExistingCustomerGrace,
		DisposableDomains:     fraud.NewDomainList(append(slices.Clone(fraud.DefaultDisposableDomains), c.DisposableDomains...)...),
	}
}

// Migrations are the referral service's own tables.
var Migrations = db.Set

// Service describes the referral service to the platform.
func Service() (platform.Service, error) {
	return NewService(Options{})
}

// Options adjust the service for tests.
type Options struct {
	// Now replaces the clock.
	Now func() time.Time
	// OnApp is told the app once it is built, so tests can drive the
	// workers' steps directly.
	OnApp func(*app.App)
}

// NewService is Service with options.
func NewService(o Options) (platform.Service, error) {
	doc, err := openapi.Service(Name)
	if err != nil {
		return platform.Service{}, fmt.Errorf("openapi document: %w", err)
	}
	cfg := &Config{}
	return platform.Service{
		Name:       Name,
		Version:    "0.1.0",
		Ports:      platform.Ports{GRPC: 50052, HTTP: 8082, Admin: 9102},
		Migrations: []postgres.MigrationSet{Migrations},
		Policy:     Policy(),
		OpenAPI:    doc,
		Config:     cfg,
		Build: func(ctx context.Context, d platform.Deps) (platform.Parts, error) {
			return build(ctx, d, *cfg, o)
		},
	}, nil
}

func build(_ context.Context, d platform.Deps, cfg Config, o Options) (platform.Parts, error) {
	if err := cfg.Validate(); err != nil {
		return platform.Parts{}, err
	}
	a := app.New(d.Pool, app.Config{Fraud: cfg.fraudPolicy(), Now: o.Now})
	if o.OnApp != nil {
		o.OnApp(a)
	}
	srv := &server{app: a, log: d.Logger, clicks: newClickLimiter(cfg.ClickLimit, cfg.ClickWindow, o.Now)}
	consumers, err := Consumers(a)
	if err != nil {
		return platform.Parts{}, err
	}
	return platform.Parts{
		Register: func(s *grpc.Server) { referralv1.RegisterReferralServiceServer(s, srv) },
		Gateway: func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
			return referralv1.RegisterReferralServiceHandlerClient(ctx, mux, referralv1.NewReferralServiceClient(conn))
		},
		Validators: validators(),
		Consumers:  consumers,
		Workers:    []func(context.Context) error{worker(a, d.Logger, cfg.WorkerInterval, cfg.WorkerBatch)},
	}, nil
}
