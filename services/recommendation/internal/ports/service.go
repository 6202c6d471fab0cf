// Package ports turns gRPC and REST calls and Kafka messages into the
// recommendation service's commands and queries, and declares who may call what.
package ports

import (
	"context"
	"fmt"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/platform"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/affinity-platform/affinity/proto/openapi"
	recommendationv1 "github.com/affinity-platform/affinity/proto/recommendation/v1"
	"github.com/affinity-platform/affinity/services/recommendation/db"
	"github.com/affinity-platform/affinity/services/recommendation/internal/app"
)

// Name is the service's name in logs, telemetry and consumer groups.
const Name = "recommendation"

// Policy says who may call each RPC. A method missing here is denied; the
// policy test fails when an RPC of the contract has no rule.
func Policy() auth.Policy {
	return auth.Policy{
		// Recommendations for a customer reveal what they bought, so a
		// customer token only reads its own; storefront back ends use a
		// service token (also for anonymous visitors).
		recommendationv1.RecommendationService_GetRecommendations_FullMethodName:  {Roles: []auth.Role{auth.RoleCustomer, auth.RoleMarketer, auth.RoleService}, SelfField: "customer_id"},
		recommendationv1.RecommendationService_RecordFeedback_FullMethodName:      {Roles: []auth.Role{auth.RoleCustomer, auth.RoleService}, SelfField: "customer_id"},
		recommendationv1.RecommendationService_BatchUpsertProducts_FullMethodName: {Roles: []auth.Role{auth.RoleMarketer, auth.RoleService}},
		// Experiment results are marketing's reading of the storefront.
		recommendationv1.RecommendationService_GetExperimentResults_FullMethodName: {Roles: []auth.Role{auth.RoleMarketer}},
		// Merchandising rules and experiments change what every storefront
		// shows; the segment export reads many customers' lists at once.
		recommendationv1.RecommendationService_CreateMerchandisingRule_FullMethodName: {Roles: []auth.Role{auth.RoleMarketer}},
		recommendationv1.RecommendationService_ListMerchandisingRules_FullMethodName:  {Roles: []auth.Role{auth.RoleMarketer}},
		recommendationv1.RecommendationService_UpdateMerchandisingRule_FullMethodName: {Roles: []auth.Role{auth.RoleMarketer}},
		recommendationv1.RecommendationService_DeleteMerchandisingRule_FullMethodName: {Roles: []auth.Role{auth.RoleMarketer}},
		recommendationv1.RecommendationService_CreateExperiment_FullMethodName:        {Roles: []auth.Role{auth.RoleMarketer}},
		recommendationv1.RecommendationService_ListExperiments_FullMethodName:         {Roles: []auth.Role{auth.RoleMarketer}},
		recommendationv1.RecommendationService_GetExperiment_FullMethodName:           {Roles: []auth.Role{auth.RoleMarketer}},
		recommendationv1.RecommendationService_UpdateExperiment_FullMethodName:        {Roles: []auth.Role{auth.RoleMarketer}},
		recommendationv1.RecommendationService_ExportRecommendations_FullMethodName:   {Roles: []auth.Role{auth.RoleMarketer}},
	}
}

// Service describes the recommendation service to the platform.
func Service() (platform.Service, error) {
	doc, err := openapi.Service(Name)
	if err != nil {
		return platform.Service{}, fmt.Errorf("openapi document: %w", err)
	}
	migrations, err := db.Migrations()
	if err != nil {
		return platform.Service{}, err
	}
	cfg := app.DefaultConfig()
	return platform.Service{
		Name:       Name,
		Version:    "0.1.0",
		Ports:      platform.Ports{GRPC: 50053, HTTP: 8083, Admin: 9103},
		Migrations: []postgres.MigrationSet{migrations},
		Policy:     Policy(),
		OpenAPI:    doc,
		Config:     &cfg,
		Build:      func(ctx context.Context, d platform.Deps) (platform.Parts, error) { return build(ctx, d, &cfg) },
	}, nil
}

func build(ctx context.Context, d platform.Deps, cfg *app.Config) (platform.Parts, error) {
	a, err := app.New(ctx, d.Pool, *cfg, d.Logger)
	if err != nil {
		return platform.Parts{}, err
	}
	srv := &server{app: a, log: d.Logger}
	return platform.Parts{
		Register: func(s *grpc.Server) { recommendationv1.RegisterRecommendationServiceServer(s, srv) },
		Gateway: func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
			return recommendationv1.RegisterRecommendationServiceHandlerClient(ctx, mux, recommendationv1.NewRecommendationServiceClient(conn))
		},
		Validators: Validators(),
		Consumers:  []platform.Consumer{Consumer(a, d.Logger)},
		Workers:    []func(context.Context) error{a.Run, a.RunReplenishment, a.RunSnapshots, a.RunLatent},
	}, nil
}
