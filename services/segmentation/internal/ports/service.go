// Package ports turns gRPC and REST calls and Kafka messages into the
// segmentation service's commands and queries, and declares who may call what.
package ports

import (
	"context"
	"fmt"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	"google.golang.org/protobuf/proto"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/consumer"
	"github.com/affinity-platform/affinity/pkg/platform"
	"github.com/affinity-platform/affinity/pkg/postgres"
	"github.com/affinity-platform/affinity/proto/openapi"
	segmentationv1 "github.com/affinity-platform/affinity/proto/segmentation/v1"
	"github.com/affinity-platform/affinity/proto/topics"
	"github.com/affinity-platform/affinity/services/segmentation/db"
	"github.com/affinity-platform/affinity/services/segmentation/internal/app"
)

// Name is the service's name in logs, telemetry and consumer groups.
const Name = "segmentation"

// Policy says who may call each RPC. A method missing here is denied; the
// policy test fails when an RPC of the contract has no rule.
func Policy() auth.Policy {
	return auth.Policy{
		segmentationv1.SegmentationService_CreateSegment_FullMethodName:             {Roles: []auth.Role{auth.RoleMarketer}},
		segmentationv1.SegmentationService_ListSegments_FullMethodName:              {Roles: []auth.Role{auth.RoleMarketer, auth.RoleService}},
		segmentationv1.SegmentationService_GetSegment_FullMethodName:                {Roles: []auth.Role{auth.RoleMarketer, auth.RoleService}},
		segmentationv1.SegmentationService_UpdateSegment_FullMethodName:             {Roles: []auth.Role{auth.RoleMarketer}},
		segmentationv1.SegmentationService_DeleteSegment_FullMethodName:             {Roles: []auth.Role{auth.RoleMarketer}},
		segmentationv1.SegmentationService_PreviewSegment_FullMethodName:            {Roles: []auth.Role{auth.RoleMarketer}},
		segmentationv1.SegmentationService_ListSegmentMembers_FullMethodName:        {Roles: []auth.Role{auth.RoleMarketer, auth.RoleService}},
		segmentationv1.SegmentationService_GetCustomerProfile_FullMethodName:        {Roles: []auth.Role{auth.RoleCustomer, auth.RoleMarketer, auth.RoleService}, SelfField: "customer_id"},
		segmentationv1.SegmentationService_Track_FullMethodName:                     {Roles: []auth.Role{auth.RoleCustomer, auth.RoleService}, SelfField: "customer_id"},
		segmentationv1.SegmentationService_Identify_FullMethodName:                  {Roles: []auth.Role{auth.RoleCustomer, auth.RoleService}, SelfField: "customer_id"},
		segmentationv1.SegmentationService_CheckSegmentMembership_FullMethodName:    {Roles: []auth.Role{auth.RoleCustomer, auth.RoleMarketer, auth.RoleService}, SelfField: "customer_id"},
		segmentationv1.SegmentationService_ExportSegmentMembers_FullMethodName:      {Roles: []auth.Role{auth.RoleMarketer, auth.RoleService}},
		segmentationv1.SegmentationService_ListSegmentSizes_FullMethodName:          {Roles: []auth.Role{auth.RoleMarketer, auth.RoleService}},
		segmentationv1.SegmentationService_ListSegmentTemplates_FullMethodName:      {Roles: []auth.Role{auth.RoleMarketer, auth.RoleService}},
		segmentationv1.SegmentationService_CreateSegmentFromTemplate_FullMethodName: {Roles: []auth.Role{auth.RoleMarketer}},
		segmentationv1.SegmentationService_RecomputeRfm_FullMethodName:              {Roles: []auth.Role{auth.RoleMarketer}},
		segmentationv1.SegmentationService_GetRfmGrid_FullMethodName:                {Roles: []auth.Role{auth.RoleMarketer, auth.RoleService}},
		segmentationv1.SegmentationService_GetPopulationStats_FullMethodName:        {Roles: []auth.Role{auth.RoleMarketer, auth.RoleService}},
	}
}

// Service describes the segmentation service to the platform.
func Service() (platform.Service, error) {
	doc, err := openapi.Service(Name)
	if err != nil {
		return platform.Service{}, fmt.Errorf("openapi document: %w", err)
	}
	cfg := &app.Config{}
	return platform.Service{
		Name:       Name,
		Version:    "0.1.0",
		Ports:      platform.Ports{GRPC: 50054, HTTP: 8084, Admin: 9104},
		Migrations: []postgres.MigrationSet{db.Migrations},
		Policy:     Policy(),
		OpenAPI:    doc,
		Config:     cfg,
		Build:      func(ctx context.Context, d platform.Deps) (platform.Parts, error) { return Build(ctx, d, *cfg) },
	}, nil
}

// Build wires the service on the platform's dependencies; opts reach the
// application layer (tests pass a clock).
func Build(_ context.Context, d platform.Deps, cfg app.Config, opts ...app.Option) (platform.Parts, error) {
	a, err := app.New(d.Pool, cfg, d.Logger, opts...)
	if err != nil {
		return platform.Parts{}, err
	}
	srv := &server{app: a, pool: d.Pool}
	payloads := map[string]proto.Message{}
	for _, t := range app.Topics {
		m, err := topics.New(t)
		if err != nil {
			return platform.Parts{}, err
		}
		payloads[t] = m
	}
	return platform.Parts{
		Register: func(s *grpc.Server) { segmentationv1.RegisterSegmentationServiceServer(s, srv) },
		Gateway: func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
			return segmentationv1.RegisterSegmentationServiceHandlerClient(ctx, mux, segmentationv1.NewSegmentationServiceClient(conn))
		},
		Validators: validators(a.Compiler()),
		Consumers: []platform.Consumer{{
			// A short batch wait: segment entries are real-time, and the
			// batch fills by itself under load.
			Options: consumer.Options{Topics: app.Topics, Payloads: payloads, BatchWait: 5 * time.Millisecond},
			Handler: a.HandleMessages,
		}},
		Workers: append(a.Workers(), a.ReportWorkers()...),
	}, nil
}
