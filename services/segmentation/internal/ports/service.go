// Package ports turns gRPC and REST calls and Kafka messages into the
// segmentation service's commands and queries, and declares who may call what.
package ports

import (
	"context"
	"fmt"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/platform"
	"github.com/affinity-platform/affinity/proto/openapi"
	segmentationv1 "github.com/affinity-platform/affinity/proto/segmentation/v1"
)

// Name is the service's name in logs, telemetry and consumer groups.
const Name = "segmentation"

// Policy says who may call each RPC. A method missing here is denied; the
// policy test fails when an RPC of the contract has no rule.
func Policy() auth.Policy {
	return auth.Policy{
		segmentationv1.SegmentationService_CreateSegment_FullMethodName:      {Roles: []auth.Role{auth.RoleMarketer}},
		segmentationv1.SegmentationService_ListSegments_FullMethodName:       {Roles: []auth.Role{auth.RoleMarketer, auth.RoleService}},
		segmentationv1.SegmentationService_GetSegment_FullMethodName:         {Roles: []auth.Role{auth.RoleMarketer, auth.RoleService}},
		segmentationv1.SegmentationService_UpdateSegment_FullMethodName:      {Roles: []auth.Role{auth.RoleMarketer}},
		segmentationv1.SegmentationService_DeleteSegment_FullMethodName:      {Roles: []auth.Role{auth.RoleMarketer}},
		segmentationv1.SegmentationService_PreviewSegment_FullMethodName:     {Roles: []auth.Role{auth.RoleMarketer}},
		segmentationv1.SegmentationService_ListSegmentMembers_FullMethodName: {Roles: []auth.Role{auth.RoleMarketer, auth.RoleService}},
		segmentationv1.SegmentationService_GetCustomerProfile_FullMethodName: {Roles: []auth.Role{auth.RoleCustomer, auth.RoleMarketer, auth.RoleService}, SelfField: "customer_id"},
		segmentationv1.SegmentationService_Track_FullMethodName:              {Roles: []auth.Role{auth.RoleCustomer, auth.RoleService}, SelfField: "customer_id"},
		segmentationv1.SegmentationService_Identify_FullMethodName:           {Roles: []auth.Role{auth.RoleCustomer, auth.RoleService}, SelfField: "customer_id"},
	}
}

// Service describes the segmentation service to the platform.
func Service() (platform.Service, error) {
	doc, err := openapi.Service(Name)
	if err != nil {
		return platform.Service{}, fmt.Errorf("openapi document: %w", err)
	}
	return platform.Service{
		Name:    Name,
		Version: "0.1.0",
		Ports:   platform.Ports{GRPC: 50054, HTTP: 8084, Admin: 9104},
		Policy:  Policy(),
		OpenAPI: doc,
		Build:   build,
	}, nil
}

// server implements segmentationv1.SegmentationServiceServer. The RPCs the service does not
// implement yet answer codes.Unimplemented.
type server struct {
	segmentationv1.UnimplementedSegmentationServiceServer
}

func build(_ context.Context, _ platform.Deps) (platform.Parts, error) {
	srv := &server{}
	return platform.Parts{
		Register: func(s *grpc.Server) { segmentationv1.RegisterSegmentationServiceServer(s, srv) },
		Gateway: func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
			return segmentationv1.RegisterSegmentationServiceHandlerClient(ctx, mux, segmentationv1.NewSegmentationServiceClient(conn))
		},
	}, nil
}
