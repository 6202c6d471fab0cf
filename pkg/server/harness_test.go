package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/affinity-platform/affinity/pkg/auth"
	"github.com/affinity-platform/affinity/pkg/logging"
	"github.com/affinity-platform/affinity/pkg/server"
	"github.com/affinity-platform/affinity/pkg/validate"
)

const testSecret = "test-secret"

// The test service test.v1.Echo is described in code so these tests do not
// depend on the generated proto module.
var echoFile = func() protoreflect.FileDescriptor {
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	rpc := func(name, in string) *descriptorpb.MethodDescriptorProto {
		return &descriptorpb.MethodDescriptorProto{Name: proto.String(name), InputType: proto.String(in), OutputType: proto.String(".test.v1.EchoResponse")}
	}
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:       proto.String("test/v1/echo.proto"),
		Package:    proto.String("test.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/wrappers.proto"},
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("EchoRequest"), Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("customer_id"), JsonName: proto.String("customerId"), Number: proto.Int32(1), Type: str, Label: opt},
				{Name: proto.String("text"), JsonName: proto.String("text"), Number: proto.Int32(2), Type: str, Label: opt},
			}},
			{Name: proto.String("EchoResponse"), Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("text"), JsonName: proto.String("text"), Number: proto.Int32(1), Type: str, Label: opt},
			}},
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("Echo"),
			Method: []*descriptorpb.MethodDescriptorProto{
				rpc("Echo", ".test.v1.EchoRequest"),
				rpc("Marketing", ".test.v1.EchoRequest"),
				rpc("Open", ".test.v1.EchoRequest"),
				rpc("Unlisted", ".test.v1.EchoRequest"),
				rpc("Panic", ".test.v1.EchoRequest"),
				rpc("Block", ".test.v1.EchoRequest"),
				rpc("Check", ".google.protobuf.StringValue"),
				{Name: proto.String("Watch"), InputType: proto.String(".test.v1.EchoRequest"), OutputType: proto.String(".test.v1.EchoResponse"), ServerStreaming: proto.Bool(true)},
			},
		}},
	}, protoregistry.GlobalFiles)
	if err != nil {
		panic(fmt.Sprintf("test descriptor: %v", err)) // a bug in the literal above, not a runtime error
	}
	return fd
}()

var (
	echoRequest  = echoFile.Messages().ByName("EchoRequest")
	echoResponse = echoFile.Messages().ByName("EchoResponse")
)

func newEchoRequest(customerID, text string) *dynamicpb.Message {
	m := dynamicpb.NewMessage(echoRequest)
	m.Set(echoRequest.Fields().ByName("customer_id"), protoreflect.ValueOfString(customerID))
	m.Set(echoRequest.Fields().ByName("text"), protoreflect.ValueOfString(text))
	return m
}

func newEchoResponse(text string) *dynamicpb.Message {
	m := dynamicpb.NewMessage(echoResponse)
	m.Set(echoResponse.Fields().ByName("text"), protoreflect.ValueOfString(text))
	return m
}

func textOf(m proto.Message) string {
	r := m.ProtoReflect()
	return r.Get(r.Descriptor().Fields().ByName("text")).String()
}

// echoService records what its handlers saw so tests can tell whether an
// interceptor let a call through.
type echoService struct {
	checkCalls atomic.Int64
	entered    chan struct{} // Block signals here once running
	release    chan struct{} // and returns when this closes
	releaseMu  sync.Once
}

// unblock lets every Block call return; safe to call more than once.
func (s *echoService) unblock() { s.releaseMu.Do(func() { close(s.release) }) }

func newEchoService() *echoService {
	return &echoService{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (s *echoService) handle(ctx context.Context, method string, req proto.Message) (proto.Message, error) {
	switch method {
	case "Panic":
		panic("secret database password is hunter2")
	case "Block":
		s.entered <- struct{}{}
		<-s.release
		return newEchoResponse("drained"), nil
	case "Check":
		s.checkCalls.Add(1)
		return newEchoResponse(req.(*wrapperspb.StringValue).GetValue()), nil
	}
	sub := "anonymous"
	if c, ok := auth.ClaimsFrom(ctx); ok {
		sub = c.Subject
	}
	return newEchoResponse(sub + ":" + textOf(req)), nil
}

func (s *echoService) desc() *grpc.ServiceDesc {
	sd := &grpc.ServiceDesc{ServiceName: "test.v1.Echo", HandlerType: (*any)(nil), Metadata: "test/v1/echo.proto"}
	methods := echoFile.Services().ByName("Echo").Methods()
	for i := range methods.Len() {
		md := methods.Get(i)
		if md.IsStreamingServer() {
			sd.Streams = append(sd.Streams, grpc.StreamDesc{
				StreamName:    string(md.Name()),
				ServerStreams: true,
				// Echo the request's text back once, as the caller it was authorized as.
				Handler: func(_ any, stream grpc.ServerStream) error {
					in := dynamicpb.NewMessage(md.Input())
					if err := stream.RecvMsg(in); err != nil {
						return err
					}
					resp, err := s.handle(stream.Context(), "Echo", in)
					if err != nil {
						return err
					}
					return stream.SendMsg(resp)
				},
			})
			continue
		}
		name := string(md.Name())
		full := "/test.v1.Echo/" + name
		newReq := func() proto.Message { return dynamicpb.NewMessage(md.Input()) }
		if md.Input().FullName() == "google.protobuf.StringValue" {
			newReq = func() proto.Message { return &wrapperspb.StringValue{} }
		}
		sd.Methods = append(sd.Methods, grpc.MethodDesc{
			MethodName: name,
			Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				in := newReq()
				if err := dec(in); err != nil {
					return nil, err
				}
				h := func(ctx context.Context, req any) (any, error) { return s.handle(ctx, name, req.(proto.Message)) }
				if interceptor == nil {
					return h(ctx, in)
				}
				return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, h)
			},
		})
	}
	return sd
}

var testPolicy = auth.Policy{
	"/test.v1.Echo/Echo":      {Roles: []auth.Role{auth.RoleCustomer, auth.RoleMarketer}, SelfField: "customer_id"},
	"/test.v1.Echo/Marketing": {Roles: []auth.Role{auth.RoleMarketer}},
	"/test.v1.Echo/Open":      {Public: true},
	"/test.v1.Echo/Panic":     {Public: true},
	"/test.v1.Echo/Block":     {Public: true},
	"/test.v1.Echo/Check":     {Public: true},
	"/test.v1.Echo/Watch":     {Roles: []auth.Role{auth.RoleCustomer}, SelfField: "customer_id"},
}

// syncBuffer is a log sink the server's goroutines can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type running struct {
	addrs  server.Addrs
	svc    *echoService
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error // receives Run's result
}

// start runs a real server on free loopback ports and stops it at cleanup.
func start(t *testing.T, modify func(*server.Options)) *running {
	t.Helper()
	svc := newEchoService()
	logs := &syncBuffer{}
	reg := validate.NewRegistry()
	validate.Register(reg, func(m *wrapperspb.StringValue) error {
		var vs validate.Violations
		if m.GetValue() == "" {
			vs.Add("value", "must not be empty")
		}
		return vs.Err()
	})
	addrs := make(chan server.Addrs, 1)
	o := server.Options{
		Name:    "echo",
		Version: "test",
		Config: server.Config{
			GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
			LogLevel: "debug", ShutdownTimeout: time.Minute,
			Auth: auth.Config{HS256Secret: testSecret},
		},
		Logger:     logging.New(logs, "debug"),
		Register:   func(s *grpc.Server) { s.RegisterService(svc.desc(), svc) },
		Policy:     testPolicy,
		Validators: reg,
		OpenAPI:    []byte(`{"swagger":"2.0"}`),
		OnListen:   func(a server.Addrs) { addrs <- a },
	}
	if modify != nil {
		modify(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{svc: svc, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- server.Run(ctx, o) }()
	select {
	case r.addrs = <-addrs:
	case err := <-r.done:
		cancel()
		t.Fatalf("expected the server to start, got %v", err)
	}
	t.Cleanup(func() {
		cancel()
		svc.unblock()
		if err := <-r.done; err != nil && !t.Failed() {
			t.Errorf("expected a clean shutdown, got %v", err)
		}
	})
	return r
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, append(server.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func token(t *testing.T, secret, sub string, exp time.Time, roles ...auth.Role) string {
	t.Helper()
	tok, err := auth.Sign(secret, auth.Claims{Subject: sub, Roles: roles, ExpiresAt: exp})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func withToken(ctx context.Context, tok string) context.Context {
	if tok == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

// gatewayEcho registers POST /v1/echo/{customer_id} the way generated
// grpc-gateway code does, so REST tests cross the same interceptors.
func gatewayEcho(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return mux.HandlePath(http.MethodPost, "/v1/echo/{customer_id}", func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		inM, outM := runtime.MarshalerForRequest(mux, r)
		actx, err := runtime.AnnotateContext(r.Context(), mux, r, "/test.v1.Echo/Echo")
		if err != nil {
			runtime.HTTPError(ctx, mux, outM, w, r, err)
			return
		}
		req := dynamicpb.NewMessage(echoRequest)
		if err := inM.NewDecoder(r.Body).Decode(req); err != nil && !errors.Is(err, http.ErrBodyReadAfterClose) {
			runtime.HTTPError(actx, mux, outM, w, r, err)
			return
		}
		req.Set(echoRequest.Fields().ByName("customer_id"), protoreflect.ValueOfString(params["customer_id"]))
		resp := dynamicpb.NewMessage(echoResponse)
		if err := conn.Invoke(actx, "/test.v1.Echo/Echo", req, resp); err != nil {
			runtime.HTTPError(actx, mux, outM, w, r, err)
			return
		}
		runtime.ForwardResponseMessage(actx, mux, outM, w, r, resp)
	})
}
