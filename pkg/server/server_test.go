package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/server"
)

func TestAuthPolicyMatrixOverRealGRPC(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	conn := dial(t, srv.addrs.GRPC)
	later, earlier := time.Now().Add(time.Hour), time.Now().Add(-time.Hour)

	tests := []struct {
		name       string
		method     string
		token      string
		customerID string
		wantCode   codes.Code
		wantText   string
	}{
		{"a call without a token is unauthenticated", "Echo", "", "c1", codes.Unauthenticated, ""},
		{"a token with a bad signature is unauthenticated", "Echo", token(t, "wrong-secret", "c1", later, auth.RoleCustomer), "c1", codes.Unauthenticated, ""},
		{"an expired token is unauthenticated", "Echo", token(t, testSecret, "c1", earlier, auth.RoleCustomer), "c1", codes.Unauthenticated, ""},
		{"a malformed token is unauthenticated", "Echo", "not-a-jwt", "c1", codes.Unauthenticated, ""},
		{"a caller without an allowed role is denied", "Echo", token(t, testSecret, "p1", later, auth.RolePartner), "c1", codes.PermissionDenied, ""},
		{"a customer acting on another customer is denied", "Echo", token(t, testSecret, "c1", later, auth.RoleCustomer), "c2", codes.PermissionDenied, ""},
		{"a customer acting on themselves is allowed", "Echo", token(t, testSecret, "c1", later, auth.RoleCustomer), "c1", codes.OK, "c1:hi"},
		{"a marketer may act on any customer", "Echo", token(t, testSecret, "m1", later, auth.RoleMarketer), "c2", codes.OK, "m1:hi"},
		{"an admin passes every role check", "Marketing", token(t, testSecret, "a1", later, auth.RoleAdmin), "", codes.OK, "a1:hi"},
		{"a customer may not call a marketer method", "Marketing", token(t, testSecret, "c1", later, auth.RoleCustomer), "c1", codes.PermissionDenied, ""},
		{"a public method needs no token", "Open", "", "", codes.OK, "anonymous:hi"},
		{"a public method still sees a valid caller", "Open", token(t, testSecret, "c1", later, auth.RoleCustomer), "", codes.OK, "c1:hi"},
		{"a method missing from the policy is denied even to admins", "Unlisted", token(t, testSecret, "a1", later, auth.RoleAdmin), "", codes.PermissionDenied, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := dynamicpb.NewMessage(echoResponse)
			err := conn.Invoke(withToken(t.Context(), tt.token), "/test.v1.Echo/"+tt.method, newEchoRequest(tt.customerID, "hi"), resp)
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("expected %s, got %s (%v)", tt.wantCode, got, err)
			}
			if tt.wantText != "" && textOf(resp) != tt.wantText {
				t.Errorf("expected response %q, got %q", tt.wantText, textOf(resp))
			}
		})
	}

	t.Run("health needs no token", func(t *testing.T) {
		t.Parallel()
		for _, svc := range []string{"", "test.v1.Echo"} {
			resp, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: svc})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("expected %q SERVING, got %v, %v", svc, resp.GetStatus(), err)
			}
		}
	})
}

func TestTokensFromAJWKSFileAreVerifiedOverGRPC(t *testing.T) {
	t.Parallel()
	file, signRS, signES := writeJWKS(t)
	srv := start(t, func(o *server.Options) { o.Config.Auth = auth.Config{JWKSFile: file} })
	conn := dial(t, srv.addrs.GRPC)
	later := time.Now().Add(time.Hour)

	tests := []struct {
		name     string
		token    string
		wantCode codes.Code
	}{
		{"an RS256 customer token is accepted", signRS("c1", later), codes.OK},
		{"an ES256 customer token is accepted", signES("c1", later), codes.OK},
		{"an expired RS256 token is unauthenticated", signRS("c1", time.Now().Add(-time.Hour)), codes.Unauthenticated},
		{"an HS256 token is unauthenticated when no secret is configured", token(t, testSecret, "c1", later, auth.RoleCustomer), codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := dynamicpb.NewMessage(echoResponse)
			err := conn.Invoke(withToken(t.Context(), tt.token), "/test.v1.Echo/Echo", newEchoRequest("c1", "hi"), resp)
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("expected %s, got %s (%v)", tt.wantCode, got, err)
			}
		})
	}
}

func TestAPanicBecomesInternalWithoutThePanicText(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	conn := dial(t, srv.addrs.GRPC)
	err := conn.Invoke(t.Context(), "/test.v1.Echo/Panic", newEchoRequest("", ""), dynamicpb.NewMessage(echoResponse))
	st := status.Convert(err)
	if st.Code() != codes.Internal || st.Message() != "internal error" {
		t.Fatalf("expected Internal \"internal error\", got %s %q", st.Code(), st.Message())
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("expected the panic text to stay on the server, got %v", err)
	}
	logs := srv.logs.String()
	if !strings.Contains(logs, "hunter2") || !strings.Contains(logs, "stack") {
		t.Errorf("expected the panic and its stack in the server log, got:\n%s", logs)
	}
	// The server keeps serving after a panic.
	resp := dynamicpb.NewMessage(echoResponse)
	if err := conn.Invoke(t.Context(), "/test.v1.Echo/Open", newEchoRequest("", "again"), resp); err != nil {
		t.Errorf("expected the next call to succeed, got %v", err)
	}
}

func TestValidationRejectsBadRequestsBeforeTheHandler(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	conn := dial(t, srv.addrs.GRPC)

	err := conn.Invoke(t.Context(), "/test.v1.Echo/Check", wrapperspb.String(""), dynamicpb.NewMessage(echoResponse))
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("expected InvalidArgument, got %s (%v)", st.Code(), err)
	}
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	if len(fields) != 1 || fields[0] != "value" {
		t.Errorf("expected one BadRequest violation for \"value\", got %v", fields)
	}
	if n := srv.svc.checkCalls.Load(); n != 0 {
		t.Errorf("expected the handler not to run for an invalid request, got %d calls", n)
	}

	resp := dynamicpb.NewMessage(echoResponse)
	if err := conn.Invoke(t.Context(), "/test.v1.Echo/Check", wrapperspb.String("ok"), resp); err != nil {
		t.Fatalf("expected a valid request to pass, got %v", err)
	}
	if n := srv.svc.checkCalls.Load(); n != 1 {
		t.Errorf("expected the handler to run once for a valid request, got %d calls", n)
	}
}

func TestGracefulShutdownDrainsAnInFlightCall(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	conn := dial(t, srv.addrs.GRPC)

	watchCtx, stopWatch := context.WithCancel(t.Context())
	defer stopWatch()
	watch, err := healthpb.NewHealthClient(conn).Watch(watchCtx, &healthpb.HealthCheckRequest{Service: "test.v1.Echo"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("expected SERVING before shutdown, got %v, %v", st.GetStatus(), err)
	}

	type result struct {
		text string
		err  error
	}
	blocked := make(chan result, 1)
	go func() {
		resp := dynamicpb.NewMessage(echoResponse)
		err := conn.Invoke(context.Background(), "/test.v1.Echo/Block", newEchoRequest("", ""), resp)
		blocked <- result{textOf(resp), err}
	}()
	<-srv.svc.entered

	srv.cancel()

	st, err := watch.Recv()
	if err != nil || st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("expected NOT_SERVING during the drain, got %v, %v", st.GetStatus(), err)
	}
	stopWatch() // an open Watch stream would itself hold up the drain

	// The listener closes when the drain starts; wait for that while the call is still blocked.
	for {
		c, err := net.Dial("tcp", srv.addrs.GRPC)
		if err != nil {
			break
		}
		_ = c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case r := <-blocked:
		t.Fatalf("expected the in-flight call to still be running, it returned %v", r.err)
	default:
	}

	srv.svc.unblock()
	r := <-blocked
	if r.err != nil || r.text != "drained" {
		t.Fatalf("expected the in-flight call to complete OK with \"drained\", got %q, %v", r.text, r.err)
	}
	if err := <-srv.done; err != nil {
		t.Fatalf("expected Run to return nil after a drain, got %v", err)
	}
	srv.done <- nil // for the cleanup in start
}

func TestAFailingWorkerStopsTheService(t *testing.T) {
	t.Parallel()
	boom := errors.New("relay lost its database")
	stopped := make(chan error, 1)
	srv := start(t, func(o *server.Options) {
		o.Workers = []func(context.Context) error{
			func(ctx context.Context) error { <-ctx.Done(); stopped <- ctx.Err(); return ctx.Err() },
			func(context.Context) error { return boom },
		}
	})
	err := <-srv.done
	if !errors.Is(err, boom) {
		t.Fatalf("expected Run to fail with the worker's error, got %v", err)
	}
	if err := <-stopped; !errors.Is(err, context.Canceled) {
		t.Errorf("expected the other worker's context to be cancelled, got %v", err)
	}
	srv.done <- nil
}

func TestHTTPEndpointsAnswer(t *testing.T) {
	t.Parallel()
	notReady := errors.New("database unreachable")
	var failReady atomicErr
	srv := start(t, func(o *server.Options) {
		o.Ready = func(context.Context) error { return failReady.get() }
		o.Gateway = gatewayEcho
	})
	httpURL, adminURL := "http://"+srv.addrs.HTTP, "http://"+srv.addrs.Admin
	customer := token(t, testSecret, "c1", time.Now().Add(time.Hour), auth.RoleCustomer)

	// A gRPC call first, so the rpc metrics have something to show.
	if err := dial(t, srv.addrs.GRPC).Invoke(t.Context(), "/test.v1.Echo/Open", newEchoRequest("", ""), dynamicpb.NewMessage(echoResponse)); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		method   string
		url      string
		token    string
		body     string
		wantCode int
		wantBody string
	}{
		{"healthz answers 200", http.MethodGet, httpURL + "/healthz", "", "", 200, "ok"},
		{"readyz answers 200 when ready", http.MethodGet, httpURL + "/readyz", "", "", 200, "ok"},
		{"openapi.json serves the document", http.MethodGet, httpURL + "/openapi.json", "", "", 200, `{"swagger":"2.0"}`},
		{"metrics shows runtime and rpc metrics", http.MethodGet, adminURL + "/metrics", "", "", 200, "rpc_server_"},
		{"metrics shows calls in flight per method, back to 0", http.MethodGet, adminURL + "/metrics", "", "", 200, `rpc_server_in_flight{otel_scope_name="github.com/affinity-platform/affinity/pkg/server",otel_scope_schema_url="",otel_scope_version="",rpc_method="/test.v1.Echo/Open"} 0`},
		{"metrics shows the Go collector", http.MethodGet, adminURL + "/metrics", "", "", 200, "go_goroutines"},
		{"pprof answers", http.MethodGet, adminURL + "/debug/pprof/", "", "", 200, "goroutine"},
		{"a REST call with the right customer passes the interceptors", http.MethodPost, httpURL + "/v1/echo/c1", customer, `{"text":"hi"}`, 200, `"text":"c1:hi"`},
		{"a REST call without a token gets 401", http.MethodPost, httpURL + "/v1/echo/c1", "", `{"text":"hi"}`, 401, ""},
		{"a REST call for another customer gets 403", http.MethodPost, httpURL + "/v1/echo/c2", customer, `{"text":"hi"}`, 403, ""},
		{"an unknown path gets 404", http.MethodGet, httpURL + "/v1/nothing", "", "", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, body := httpDo(t, tt.method, tt.url, tt.token, tt.body)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Errorf("expected %d with %q, got %d: %.300s", tt.wantCode, tt.wantBody, code, body)
			}
		})
	}

	t.Run("readyz answers 503 while Ready fails", func(t *testing.T) {
		failReady.set(notReady)
		defer failReady.set(nil)
		if code, body := httpDo(t, http.MethodGet, httpURL+"/readyz", "", ""); code != 503 || strings.Contains(body, "unreachable") {
			t.Errorf("expected 503 without the error text, got %d: %s", code, body)
		}
	})
}

func TestRunRejectsAnInvalidConfig(t *testing.T) {
	t.Parallel()
	err := server.Run(t.Context(), server.Options{Config: server.Config{LogLevel: "loud"}})
	for _, want := range []string{"GRPC_ADDR", "HTTP_ADDR", "ADMIN_ADDR", "LOG_LEVEL", "SHUTDOWN_TIMEOUT"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("expected an error naming %s, got %v", want, err)
		}
	}
}

func httpDo(t *testing.T, method, url, tok, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestTheStartLogShowsTheConfigWithSecretsMasked(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	logs := srv.logs.String()
	for _, want := range []string{`"msg":"starting"`, `"GRPC_ADDR":"127.0.0.1:0"`, `"JWT_HS256_SECRET":"******"`, `"SHUTDOWN_TIMEOUT":"1m0s"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("expected the start log to contain %s, got:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, testSecret) {
		t.Errorf("expected the HS256 secret to be masked, found it in:\n%s", logs)
	}
}

func TestStreamsAreAuthorizedPerMessage(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	conn := dial(t, srv.addrs.GRPC)
	customer := token(t, testSecret, "c1", time.Now().Add(time.Hour), auth.RoleCustomer)
	tests := []struct {
		name       string
		token      string
		customerID string
		wantCode   codes.Code
	}{
		{"a stream without a token is unauthenticated", "", "c1", codes.Unauthenticated},
		{"a customer streaming another customer's data is denied", customer, "c2", codes.PermissionDenied},
		{"a customer streaming their own data is allowed", customer, "c1", codes.OK},
		{"a marketer lacks the stream's role", token(t, testSecret, "m1", time.Now().Add(time.Hour), auth.RoleMarketer), "c1", codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			desc := &grpc.StreamDesc{StreamName: "Watch", ServerStreams: true}
			stream, err := conn.NewStream(withToken(t.Context(), tt.token), desc, "/test.v1.Echo/Watch")
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.SendMsg(newEchoRequest(tt.customerID, "hi")); err != nil {
				t.Fatal(err)
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			resp := dynamicpb.NewMessage(echoResponse)
			err = stream.RecvMsg(resp)
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("expected %s, got %s (%v)", tt.wantCode, got, err)
			}
			if tt.wantCode == codes.OK && textOf(resp) != "c1:hi" {
				t.Errorf("expected \"c1:hi\", got %q", textOf(resp))
			}
		})
	}
}

func TestCallsAreLoggedWithTheIncomingTraceID(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	// A plain client, so the traceparent below reaches the server unchanged.
	conn, err := grpc.NewClient(srv.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	ctx := metadata.AppendToOutgoingContext(t.Context(), "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if err := conn.Invoke(ctx, "/test.v1.Echo/Open", newEchoRequest("", ""), dynamicpb.NewMessage(echoResponse)); err != nil {
		t.Fatal(err)
	}
	var found bool
	for line := range strings.SplitSeq(srv.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"grpc call"`) && strings.Contains(line, `"method":"/test.v1.Echo/Open"`) {
			found = true
			for _, want := range []string{`"code":"OK"`, `"duration"`, `"trace_id":"` + traceID + `"`} {
				if !strings.Contains(line, want) {
					t.Errorf("expected the call's log line to contain %s, got %s", want, line)
				}
			}
		}
	}
	if !found {
		t.Errorf("expected a \"grpc call\" log line for Open, got:\n%s", srv.logs.String())
	}
}

func TestReflectionNeedsNoToken(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	stream, err := reflectionpb.NewServerReflectionClient(dial(t, srv.addrs.GRPC)).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("expected reflection to answer without a token, got %v", err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, "test.v1.Echo") || !slices.Contains(names, "grpc.health.v1.Health") {
		t.Errorf("expected test.v1.Echo and grpc.health.v1.Health to be listed, got %v", names)
	}
}
