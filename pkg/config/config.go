// Package config reads a service's configuration from environment variables
// into one struct, applies defaults, validates it, and renders it for the
// start-up log with secrets masked.
//
// Fields are declared with the tags of github.com/caarlos0/env/v11:
// `env:"NAME"`, `envDefault:"value"`, `envPrefix:"PREFIX_"` on nested structs.
// A field tagged `secret:"true"` is never printed; URLs and connection
// strings that carry a password are printed with the password masked.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Validator is implemented by configuration structs (or nested parts of them)
// that check their own values after loading. Load calls it on every nested
// struct first and on the outermost struct last, so an embedded
// server.Config is validated without each service repeating its checks.
type Validator interface {
	Validate() error
}

// Mask is what Attrs prints in place of a secret.
const Mask = "******"

// Load fills dst, a pointer to a struct, from the process environment.
// Fields already set in dst keep their value unless the environment sets
// them, so a service can pre-fill per-service defaults (its ports) before
// calling Load while `envDefault` covers the shared ones.
func Load(dst any) error {
	return LoadFrom(envMap(os.Environ()), dst)
}

// LoadFrom is Load with an explicit environment, for tests and tools that
// must not depend on the process environment.
func LoadFrom(environ map[string]string, dst any) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: destination must be a non-nil pointer to a struct, got %T", dst)
	}
	// SetDefaultsForZeroValuesOnly keeps pre-filled values over envDefault,
	// but it also keeps them over variables that are set, so clear those
	// fields first: the environment always wins.
	clearSet(rv.Elem(), "", environ)
	if err := env.ParseWithOptions(dst, env.Options{
		Environment:                  environ,
		SetDefaultsForZeroValuesOnly: true,
	}); err != nil {
		return fmt.Errorf("config: read environment: %w", nameVariables(rv.Elem().Type(), err))
	}
	var errs []error
	validate(rv, &errs)
	if len(errs) > 0 {
		return fmt.Errorf("config: invalid: %w", errors.Join(dedupe(errs)...))
	}
	return nil
}

// dedupe drops repeated messages: a struct embedding server.Config without
// its own Validate promotes the embedded one, which then runs twice.
func dedupe(errs []error) []error {
	seen := map[string]bool{}
	out := errs[:0]
	for _, err := range errs {
		if !seen[err.Error()] {
			seen[err.Error()] = true
			out = append(out, err)
		}
	}
	return out
}

// clearSet zeroes every field whose variable is set to a non-empty value.
func clearSet(v reflect.Value, prefix string, environ map[string]string) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if f.Type.Kind() == reflect.Struct && name == "" && f.Type != reflect.TypeFor[time.Time]() {
			clearSet(v.Field(i), prefix+f.Tag.Get("envPrefix"), environ)
			continue
		}
		if name != "" && environ[prefix+name] != "" {
			v.Field(i).SetZero()
		}
	}
}

func envMap(kv []string) map[string]string {
	m := make(map[string]string, len(kv))
	for _, e := range kv {
		k, v, _ := strings.Cut(e, "=")
		m[k] = v
	}
	return m
}

// validate calls Validate on nested structs depth first, then on v itself,
// collecting every error so one start-up reports all problems at once.
func validate(v reflect.Value, errs *[]error) {
	sv := v
	if sv.Kind() == reflect.Pointer {
		sv = sv.Elem()
	}
	t := sv.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Type.Kind() != reflect.Struct || f.Type == reflect.TypeFor[time.Time]() {
			continue
		}
		validate(sv.Field(i).Addr(), errs)
	}
	if val, ok := v.Interface().(Validator); ok {
		if err := val.Validate(); err != nil {
			*errs = append(*errs, err)
		}
	}
}

// Attrs renders every field of src (a struct or pointer to one) as log
// attributes keyed by the field's environment variable name (the Go field
// name when it has none), masking secrets. Nested structs without an
// environment prefix are flattened because their variables are flat too.
func Attrs(src any) []slog.Attr {
	v := reflect.ValueOf(src)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return []slog.Attr{slog.String("config", fmt.Sprintf("unsupported type %T", src))}
	}
	var out []slog.Attr
	collect(v, "", &out)
	return out
}

func collect(v reflect.Value, prefix string, out *[]slog.Attr) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if f.Type.Kind() == reflect.Struct && name == "" && f.Type != reflect.TypeFor[time.Time]() {
			collect(fv, prefix+f.Tag.Get("envPrefix"), out)
			continue
		}
		key := f.Name
		if name != "" {
			key = prefix + name
		}
		*out = append(*out, slog.String(key, render(fv, f.Tag.Get("secret") == "true")))
	}
}

func render(v reflect.Value, secret bool) string {
	if secret {
		if v.IsZero() {
			return ""
		}
		return Mask
	}
	switch x := v.Interface().(type) {
	case string:
		return MaskPassword(x)
	case *url.URL:
		if x == nil {
			return ""
		}
		return MaskPassword(x.String())
	case url.URL:
		return MaskPassword(x.String())
	case time.Duration:
		return x.String()
	case fmt.Stringer:
		return MaskPassword(x.String())
	}
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = render(v.Index(i), false)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}

// keywordPassword matches password=... in libpq keyword/value strings.
var keywordPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// MaskPassword hides the password in a URL ("postgres://u:pw@h/db") or in a
// libpq keyword/value string ("password=pw"), leaving everything else
// readable so operators can still see which host and user are configured.
func MaskPassword(s string) string {
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), Mask)
				// url.String would percent-encode the mask; put it back verbatim.
				return strings.Replace(u.String(), url.QueryEscape(Mask), Mask, 1)
			}
		}
		if u, err := url.Parse(s); err == nil {
			q := u.Query()
			if q.Has("password") {
				q.Set("password", Mask)
				u.RawQuery = q.Encode()
				return strings.Replace(u.String(), url.QueryEscape(Mask), Mask, 1)
			}
		}
		return s
	}
	return keywordPassword.ReplaceAllString(s, "${1}"+Mask)
}

// nameVariables rewrites the library's parse errors, which name the Go
// field, so that each names the environment variable an operator has to fix.
func nameVariables(t reflect.Type, err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	vars := map[string]string{}
	fieldVars(t, "", vars)
	out := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if v, ok := vars[pe.Name]; ok {
				out = append(out, fmt.Errorf("%s: %w", v, pe.Err))
				continue
			}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// fieldVars maps each field name of t, nested structs included, to its
// environment variable.
func fieldVars(t reflect.Type, prefix string, out map[string]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if name, ok := f.Tag.Lookup("env"); ok {
			name, _, _ = strings.Cut(name, ",")
			if _, seen := out[f.Name]; !seen {
				out[f.Name] = prefix + name
			}
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Time{}) {
			fieldVars(ft, prefix+f.Tag.Get("envPrefix"), out)
		}
	}
}
