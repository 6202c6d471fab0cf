package contract_test

import (
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	// Imported for their registrations in protoregistry.GlobalFiles.
	_ "github.com/affinity-platform/affinity/proto/commerce/v1"
	_ "github.com/affinity-platform/affinity/proto/loyalty/events/v1"
	_ "github.com/affinity-platform/affinity/proto/loyalty/v1"
	_ "github.com/affinity-platform/affinity/proto/recommendation/events/v1"
	_ "github.com/affinity-platform/affinity/proto/recommendation/v1"
	_ "github.com/affinity-platform/affinity/proto/referral/events/v1"
	_ "github.com/affinity-platform/affinity/proto/referral/v1"
	_ "github.com/affinity-platform/affinity/proto/segmentation/events/v1"
	_ "github.com/affinity-platform/affinity/proto/segmentation/v1"
)

// ourPackages are the proto package prefixes this module owns; everything
// else in the registry (google.*) is someone else's.
var ourPackages = []string{"commerce.", "loyalty.", "referral.", "recommendation.", "segmentation."}

// ourFiles returns the registered files of this module.
func ourFiles(t *testing.T) []protoreflect.FileDescriptor {
	t.Helper()
	var files []protoreflect.FileDescriptor
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for _, p := range ourPackages {
			if strings.HasPrefix(string(fd.Package()), p) {
				files = append(files, fd)
				break
			}
		}
		return true
	})
	if len(files) < 9 {
		t.Fatalf("expected at least 9 registered files of this module, got %d", len(files))
	}
	return files
}

// ourMethods returns every RPC of this module.
func ourMethods(t *testing.T) []protoreflect.MethodDescriptor {
	t.Helper()
	var methods []protoreflect.MethodDescriptor
	for _, fd := range ourFiles(t) {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				methods = append(methods, sd.Methods().Get(j))
			}
		}
	}
	if len(methods) < 4 {
		t.Fatalf("expected the RPCs of four services, got %d RPCs", len(methods))
	}
	return methods
}

// ourMessages returns every message of this module, nested ones included.
func ourMessages(t *testing.T) []protoreflect.MessageDescriptor {
	t.Helper()
	var out []protoreflect.MessageDescriptor
	var walk func(protoreflect.MessageDescriptors)
	walk = func(mds protoreflect.MessageDescriptors) {
		for i := range mds.Len() {
			md := mds.Get(i)
			if md.IsMapEntry() {
				continue
			}
			out = append(out, md)
			walk(md.Messages())
		}
	}
	for _, fd := range ourFiles(t) {
		walk(fd.Messages())
	}
	return out
}

func httpRule(md protoreflect.MethodDescriptor) *annotations.HttpRule {
	rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
	return rule
}

func isPureRead(md protoreflect.MethodDescriptor) bool {
	opts, _ := md.Options().(*descriptorpb.MethodOptions)
	return opts.GetIdempotencyLevel() == descriptorpb.MethodOptions_NO_SIDE_EFFECTS
}

func TestEveryRPCHasAnHTTPRule(t *testing.T) {
	t.Parallel()
	for _, md := range ourMethods(t) {
		rule := httpRule(md)
		if rule == nil || rule.GetPattern() == nil {
			t.Errorf("%s: expected a google.api.http rule, got none", md.FullName())
			continue
		}
		if _, isGet := rule.GetPattern().(*annotations.HttpRule_Get); isGet && !isPureRead(md) {
			t.Errorf("%s: expected a GET RPC to declare idempotency_level = NO_SIDE_EFFECTS, got %v",
				md.FullName(), md.Options().(*descriptorpb.MethodOptions).GetIdempotencyLevel())
		}
	}
}

func TestEveryRPCThatIsNotAPureReadTakesAnIdempotencyKey(t *testing.T) {
	t.Parallel()
	for _, md := range ourMethods(t) {
		if isPureRead(md) {
			continue
		}
		f := md.Input().Fields().ByName("idempotency_key")
		switch {
		case f == nil:
			t.Errorf("%s mutates: expected %s to have a string idempotency_key field, got none",
				md.FullName(), md.Input().FullName())
		case f.Kind() != protoreflect.StringKind || f.Cardinality() == protoreflect.Repeated:
			t.Errorf("%s: expected idempotency_key to be a singular string, got %v %v",
				md.FullName(), f.Cardinality(), f.Kind())
		}
	}
}

func TestEveryRPCHasItsOwnRequestAndResponse(t *testing.T) {
	t.Parallel()
	used := map[protoreflect.FullName]protoreflect.FullName{}
	for _, md := range ourMethods(t) {
		for _, tc := range []struct {
			msg    protoreflect.MessageDescriptor
			suffix string
		}{{md.Input(), "Request"}, {md.Output(), "Response"}} {
			want := string(md.Name()) + tc.suffix
			if string(tc.msg.Name()) != want {
				t.Errorf("%s: expected message %s, got %s", md.FullName(), want, tc.msg.FullName())
			}
			if other, ok := used[tc.msg.FullName()]; ok {
				t.Errorf("%s: expected its own %s, got %s shared with %s", md.FullName(), tc.suffix, tc.msg.FullName(), other)
			}
			used[tc.msg.FullName()] = md.FullName()
		}
	}
}

func TestEveryEnumStartsWithAnUnspecifiedZeroValue(t *testing.T) {
	t.Parallel()
	var enums []protoreflect.EnumDescriptor
	for _, fd := range ourFiles(t) {
		for i := range fd.Enums().Len() {
			enums = append(enums, fd.Enums().Get(i))
		}
	}
	for _, md := range ourMessages(t) {
		for i := range md.Enums().Len() {
			enums = append(enums, md.Enums().Get(i))
		}
	}
	if len(enums) == 0 {
		t.Fatal("expected enums in this module, got none")
	}
	for _, ed := range enums {
		zero := ed.Values().ByNumber(0)
		if zero == nil || !strings.HasSuffix(string(zero.Name()), "_UNSPECIFIED") {
			t.Errorf("%s: expected value 0 named *_UNSPECIFIED, got %v", ed.FullName(), zero.Name())
		}
	}
}

func TestPagedListsUseOneShape(t *testing.T) {
	t.Parallel()
	for _, md := range ourMethods(t) {
		in, out := md.Input().Fields(), md.Output().Fields()
		if in.ByName("page_token") == nil {
			continue
		}
		// GET /v1/recommendations names its page size "limit" in the
		// architecture's REST surface; everything else says page_size.
		size := in.ByName("page_size")
		if size == nil {
			size = in.ByName("limit")
		}
		if size == nil || size.Kind() != protoreflect.Int32Kind {
			t.Errorf("%s: expected an int32 page_size (or limit) beside page_token, got %v", md.FullName(), size)
		}
		if f := out.ByName("next_page_token"); f == nil || f.Kind() != protoreflect.StringKind {
			t.Errorf("%s: expected a string next_page_token in %s, got %v", md.FullName(), md.Output().FullName(), f)
		}
	}
}

func TestFieldsFollowTheNamingConventions(t *testing.T) {
	t.Parallel()
	const timestamp = "google.protobuf.Timestamp"
	for _, md := range ourMessages(t) {
		for i := range md.Fields().Len() {
			f := md.Fields().Get(i)
			name := string(f.Name())
			isTimestamp := f.Kind() == protoreflect.MessageKind && f.Message().FullName() == timestamp
			switch {
			case strings.HasSuffix(name, "_at") && !isTimestamp:
				t.Errorf("%s: expected a field named *_at to be a %s, got %v", f.FullName(), timestamp, f.Kind())
			case isTimestamp && !(strings.HasSuffix(name, "_at") || strings.HasSuffix(name, "_until") ||
				strings.HasSuffix(name, "_from") || strings.HasSuffix(name, "_time")):
				t.Errorf("%s: expected a timestamp to be named *_at, *_until, *_from or *_time, got %s", f.FullName(), name)
			case (name == "customer_id" || strings.HasSuffix(name, "_customer_id")) && f.Kind() != protoreflect.StringKind:
				// The auth interceptor reads customer_id as a string by name.
				t.Errorf("%s: expected a string, got %v", f.FullName(), f.Kind())
			case strings.HasSuffix(name, "_minor") && f.Kind() != protoreflect.Int64Kind:
				t.Errorf("%s: expected minor units to be int64, got %v", f.FullName(), f.Kind())
			}
		}
	}
}
