package platform

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/affinity-platform/affinity/pkg/auth"
)

// CheckPolicy reports every RPC of sd that has no rule in p, every rule
// naming a method sd does not have, and every SelfField that is not a
// string field of the method's request. Services call it from a test so a
// new RPC cannot ship without a decision about who may call it.
func CheckPolicy(sd protoreflect.ServiceDescriptor, p auth.Policy) error {
	var errs []error
	prefix := "/" + string(sd.FullName()) + "/"
	known := map[string]bool{}
	methods := sd.Methods()
	for i := range methods.Len() {
		m := methods.Get(i)
		name := prefix + string(m.Name())
		known[name] = true
		rule, ok := p[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no policy rule", name))
			continue
		}
		if !rule.Public && len(rule.Roles) == 0 {
			errs = append(errs, fmt.Errorf("%s: rule is neither public nor names a role", name))
		}
		if rule.SelfField != "" {
			if err := stringFieldPath(m.Input(), rule.SelfField); err != nil {
				errs = append(errs, fmt.Errorf("%s: SelfField: %w", name, err))
			}
		}
	}
	for name := range p {
		if strings.HasPrefix(name, prefix) && !known[name] {
			errs = append(errs, fmt.Errorf("%s: rule for a method the service does not have", name))
		}
	}
	return errors.Join(errs...)
}

func stringFieldPath(md protoreflect.MessageDescriptor, path string) error {
	parts := strings.Split(path, ".")
	for i, part := range parts {
		fd := md.Fields().ByName(protoreflect.Name(part))
		if fd == nil {
			return fmt.Errorf("%s has no field %q", md.FullName(), part)
		}
		if i == len(parts)-1 {
			if fd.Kind() != protoreflect.StringKind || fd.IsList() {
				return fmt.Errorf("%s.%s is not a string field", md.FullName(), part)
			}
			return nil
		}
		if fd.Message() == nil {
			return fmt.Errorf("%s.%s is not a message", md.FullName(), part)
		}
		md = fd.Message()
	}
	return nil
}
