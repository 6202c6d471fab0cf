// Package ports turns gRPC and REST calls and Kafka messages into the
// loyalty service's commands and queries, and declares who may call what.
package ports

import (
	"context"
	"fmt"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/platform"
	"github.com/affinity-platform/affinity/pkg/postgres"
	loyaltyv1 "github.com/affinity-platform/affinity/proto/loyalty/v1"
	"github.com/affinity-platform/affinity/proto/openapi"
	"github.com/affinity-platform/affinity/services/loyalty/db"
	"github.com/affinity-platform/affinity/services/loyalty/internal/app"
)

// Name is the service's name in logs, telemetry and consumer groups.
const Name = "loyalty"

// anyone is every authenticated role: reads of the program's public
// configuration need a token but no particular role.
var anyone = []auth.Role{auth.RoleCustomer, auth.RoleMarketer, auth.RoleService, auth.RolePartner}

// Policy says who may call each RPC. A method missing here is denied; the
// policy test fails when an RPC of the contract has no rule.
func Policy() auth.Policy {
	return auth.Policy{
		loyaltyv1.LoyaltyService_GetMember_FullMethodName: {Roles: []auth.Role{auth.RoleCustomer, auth.RoleMarketer, auth.RoleService}, SelfField: "customer_id"},
		// Every channel (the customer's app, staff tools, the storefront
		// service) asks the same question and gets the same answer.
		loyaltyv1.LoyaltyService_GetMemberOffers_FullMethodName: {Roles: []auth.Role{auth.RoleCustomer, auth.RoleMarketer, auth.RoleService}, SelfField: "customer_id"},
		// Reports are the marketers' (program-wide figures, never a customer's).
		loyaltyv1.LoyaltyService_GetPointsReport_FullMethodName:      {Roles: []auth.Role{auth.RoleMarketer}},
		loyaltyv1.LoyaltyService_ListRuleTotals_FullMethodName:       {Roles: []auth.Role{auth.RoleMarketer}},
		loyaltyv1.LoyaltyService_GetPartnerSettlement_FullMethodName: {Roles: []auth.Role{auth.RoleMarketer}},
		loyaltyv1.LoyaltyService_GetHoldoutLift_FullMethodName:       {Roles: []auth.Role{auth.RoleMarketer}},
		loyaltyv1.LoyaltyService_ListTransactions_FullMethodName:     {Roles: []auth.Role{auth.RoleCustomer, auth.RoleMarketer, auth.RoleService}, SelfField: "customer_id"},
		// Earn is for order systems and coalition partners; customers earn
		// through their orders, never by asking.
		loyaltyv1.LoyaltyService_Earn_FullMethodName: {Roles: []auth.Role{auth.RoleService, auth.RolePartner}},
		// Partners redeem too (points spent at a coalition partner); the
		// redemption records the partner for settlement.
		loyaltyv1.LoyaltyService_Redeem_FullMethodName:     {Roles: []auth.Role{auth.RoleCustomer, auth.RoleService, auth.RolePartner}, SelfField: "customer_id"},
		loyaltyv1.LoyaltyService_CreateHold_FullMethodName: {Roles: []auth.Role{auth.RoleCustomer, auth.RoleService}, SelfField: "customer_id"},
		// Capture and release name the hold's owner too; the handler checks
		// that the hold belongs to that customer.
		loyaltyv1.LoyaltyService_CaptureHold_FullMethodName: {Roles: []auth.Role{auth.RoleCustomer, auth.RoleService}, SelfField: "customer_id"},
		loyaltyv1.LoyaltyService_ReleaseHold_FullMethodName: {Roles: []auth.Role{auth.RoleCustomer, auth.RoleService}, SelfField: "customer_id"},
		// A member gives their own points; a service may move them on a
		// member's behalf (e.g. a household account tool).
		loyaltyv1.LoyaltyService_TransferPoints_FullMethodName:  {Roles: []auth.Role{auth.RoleCustomer, auth.RoleService}, SelfField: "customer_id"},
		loyaltyv1.LoyaltyService_SetTierOverride_FullMethodName: {Roles: []auth.Role{auth.RoleMarketer}},
		// Reversals follow an order cancellation (the order system) or a
		// support decision (a marketer); customers cannot undo a redemption
		// whose coupon they may already have used.
		loyaltyv1.LoyaltyService_ReverseRedemption_FullMethodName: {Roles: []auth.Role{auth.RoleMarketer, auth.RoleService}},
		loyaltyv1.LoyaltyService_AddCouponCodes_FullMethodName:    {Roles: []auth.Role{auth.RoleMarketer}},
		loyaltyv1.LoyaltyService_CreateAdjustment_FullMethodName:  {Roles: []auth.Role{auth.RoleMarketer}},
		loyaltyv1.LoyaltyService_ListRewards_FullMethodName:       {Roles: anyone},
		loyaltyv1.LoyaltyService_GetReward_FullMethodName:         {Roles: anyone},
		loyaltyv1.LoyaltyService_CreateReward_FullMethodName:      {Roles: []auth.Role{auth.RoleMarketer}},
		loyaltyv1.LoyaltyService_UpdateReward_FullMethodName:      {Roles: []auth.Role{auth.RoleMarketer}},
		loyaltyv1.LoyaltyService_ListEarningRules_FullMethodName:  {Roles: anyone},
		loyaltyv1.LoyaltyService_GetEarningRule_FullMethodName:    {Roles: anyone},
		loyaltyv1.LoyaltyService_CreateEarningRule_FullMethodName: {Roles: []auth.Role{auth.RoleMarketer}},
		loyaltyv1.LoyaltyService_UpdateEarningRule_FullMethodName: {Roles: []auth.Role{auth.RoleMarketer}},
		loyaltyv1.LoyaltyService_ListTiers_FullMethodName:         {Roles: anyone},
		loyaltyv1.LoyaltyService_GetTier_FullMethodName:           {Roles: anyone},
		loyaltyv1.LoyaltyService_CreateTier_FullMethodName:        {Roles: []auth.Role{auth.RoleMarketer}},
		loyaltyv1.LoyaltyService_UpdateTier_FullMethodName:        {Roles: []auth.Role{auth.RoleMarketer}},
		// Every role may read the program settings (the storefront shows
		// the earning rate); only marketers change them.
		loyaltyv1.LoyaltyService_GetProgram_FullMethodName:      {Roles: anyone},
		loyaltyv1.LoyaltyService_UpdateProgram_FullMethodName:   {Roles: []auth.Role{auth.RoleMarketer}},
		loyaltyv1.LoyaltyService_ListChallenges_FullMethodName:  {Roles: anyone},
		loyaltyv1.LoyaltyService_GetChallenge_FullMethodName:    {Roles: anyone},
		loyaltyv1.LoyaltyService_CreateChallenge_FullMethodName: {Roles: []auth.Role{auth.RoleMarketer}},
		loyaltyv1.LoyaltyService_UpdateChallenge_FullMethodName: {Roles: []auth.Role{auth.RoleMarketer}},
		// A member sees their own progress; staff and services anyone's.
		loyaltyv1.LoyaltyService_ListMemberChallenges_FullMethodName: {Roles: []auth.Role{auth.RoleCustomer, auth.RoleMarketer, auth.RoleService}, SelfField: "customer_id"},
	}
}

// Service describes the loyalty service to the platform.
func Service() (platform.Service, error) { return NewService() }

// NewService is Service with app options (tests pass a clock).
func NewService(opts ...app.Option) (platform.Service, error) {
	doc, err := openapi.Service(Name)
	if err != nil {
		return platform.Service{}, fmt.Errorf("openapi document: %w", err)
	}
	cfg := &Config{}
	return platform.Service{
		Name:       Name,
		Version:    "0.2.0",
		Ports:      platform.Ports{GRPC: 50051, HTTP: 8081, Admin: 9101},
		Migrations: []postgres.MigrationSet{db.Migrations},
		Policy:     Policy(),
		OpenAPI:    doc,
		Config:     cfg,
		Build: func(_ context.Context, d platform.Deps) (platform.Parts, error) {
			ac, err := cfg.App()
			if err != nil {
				return platform.Parts{}, err
			}
			a, err := app.New(d.Pool, ac, opts...)
			if err != nil {
				return platform.Parts{}, err
			}
			srv := NewServer(a)
			consumers := make([]platform.Consumer, cfg.Consumers)
			for i := range consumers {
				consumers[i] = platform.Consumer{Options: consumerOptions(cfg.OrderBatchSize), Handler: Handler(a, d.Logger)}
			}
			return platform.Parts{
				Register: srv.register,
				Gateway: func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
					return loyaltyv1.RegisterLoyaltyServiceHandlerClient(ctx, mux, loyaltyv1.NewLoyaltyServiceClient(conn))
				},
				Validators: validators(),
				Consumers:  consumers,
				Workers:    []func(context.Context) error{a.JobWorker(cfg.JobInterval, d.Logger)},
			}, nil
		},
	}, nil
}
