// Package ports turns gRPC and REST calls and Kafka messages into the
// referral service's commands and queries, and declares who may call what.
package ports

import (
	"context"
	"fmt"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/platform"
	"github.com/affinity-platform/affinity/proto/openapi"
	referralv1 "github.com/affinity-platform/affinity/proto/referral/v1"
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
		referralv1.ReferralService_CreateReferralCode_FullMethodName: {Roles: []auth.Role{auth.RoleCustomer, auth.RoleMarketer, auth.RoleService, auth.RolePartner}, SelfField: "customer_id"},
		// A click comes from a friend's browser before anybody has an
		// account; fraud rules, not tokens, guard it.
		referralv1.ReferralService_RecordClick_FullMethodName: {Public: true},
		// customer_id of an attribution is the friend who signed up.
		referralv1.ReferralService_CreateAttribution_FullMethodName:     {Roles: []auth.Role{auth.RoleCustomer, auth.RoleService}, SelfField: "customer_id"},
		referralv1.ReferralService_GetCampaignStats_FullMethodName:      {Roles: []auth.Role{auth.RoleMarketer}},
		referralv1.ReferralService_ListCustomerReferrals_FullMethodName: {Roles: []auth.Role{auth.RoleCustomer, auth.RoleMarketer, auth.RoleService}, SelfField: "customer_id"},
	}
}

// Service describes the referral service to the platform.
func Service() (platform.Service, error) {
	doc, err := openapi.Service(Name)
	if err != nil {
		return platform.Service{}, fmt.Errorf("openapi document: %w", err)
	}
	return platform.Service{
		Name:    Name,
		Version: "0.1.0",
		Ports:   platform.Ports{GRPC: 50052, HTTP: 8082, Admin: 9102},
		Policy:  Policy(),
		OpenAPI: doc,
		Build:   build,
	}, nil
}

// server implements referralv1.ReferralServiceServer. The RPCs the service does not
// implement yet answer codes.Unimplemented.
type server struct {
	referralv1.UnimplementedReferralServiceServer
}

func build(_ context.Context, _ platform.Deps) (platform.Parts, error) {
	srv := &server{}
	return platform.Parts{
		Register: func(s *grpc.Server) { referralv1.RegisterReferralServiceServer(s, srv) },
		Gateway: func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
			return referralv1.RegisterReferralServiceHandlerClient(ctx, mux, referralv1.NewReferralServiceClient(conn))
		},
	}, nil
}
