package bff

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

//go:embed web
var webFS embed.FS

// Prefix is the path the console is served under, in the local stack's entry
// and behind the Kubernetes ingress alike.
const Prefix = "/console"

// apiPrefix is where the UI sends its REST calls; the rest of the path is the
// public REST path (/v1/...).
const apiPrefix = Prefix + "/api"

// contentSecurityPolicy keeps every page to its own origin: the console makes
// no external requests (fonts, scripts and styles are embedded), and inline
// scripts are refused so an injected value cannot run.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"

// NewHandler returns the console's HTTP surface: the UI under /console/, the
// storefront demo at /console/storefront, the API pass-through under
// /console/api/v1/..., and /healthz and /readyz.
func NewHandler(cfg Config, log *slog.Logger) (http.Handler, error) {
	base, err := url.Parse(cfg.APIBaseURL)
	if err != nil {
		return nil, err
	}
	routes, err := parseRoutes(cfg.APIRoutes)
	if err != nil {
		return nil, fmt.Errorf("API_ROUTES: %w", err)
	}
	static, err := fs.Sub(webFS, "web")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.Handle(apiPrefix+"/", newAPIProxy(base, routes, cfg.APITimeout, log))
	oidc := newOIDC(cfg.OIDC, cfg.APITimeout, log)
	mux.HandleFunc("GET "+Prefix+"/auth/config", oidc.serveConfig)
	mux.HandleFunc("POST "+Prefix+"/auth/token", oidc.serveToken)
	mux.HandleFunc("GET "+Prefix, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/", http.StatusMovedPermanently)
	})
	mux.Handle("GET "+Prefix+"/storefront", page(static, "storefront.html"))
	mux.Handle("GET "+Prefix+"/{$}", page(static, "index.html"))
	mux.Handle("GET "+Prefix+"/static/", http.StripPrefix(Prefix+"/static/", staticFiles(static)))
	return securityHeaders(mux), nil
}

// page serves one HTML file of the embedded UI.
func page(static fs.FS, name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(static, name)
		if err != nil {
			http.Error(w, "page missing from the build", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// Pages are tiny and change with every release; the browser must
		// not keep an old page that calls a changed script.
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(b)
	})
}

func staticFiles(static fs.FS) http.Handler {
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Directory listings and the HTML pages are not part of /static/.
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") || strings.HasSuffix(r.URL.Path, ".html") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		csp := contentSecurityPolicy
		// The storefront demo is meant to be embedded in a shop's pages; the
		// console itself must never be framed (clickjacking of admin actions).
		if r.URL.Path != Prefix+"/storefront" {
			csp += "; frame-ancestors 'none'"
		}
		h.Set("Content-Security-Policy", csp)
		next.ServeHTTP(w, r)
	})
}

// newAPIProxy passes /console/api/v1/... to base/v1/... with the caller's
// Authorization header and nothing else of the browser's identity: cookies
// are dropped, because the platform authenticates bearer tokens only and a
// cookie must never become an ambient credential.
func newAPIProxy(fallback *url.URL, routes []route, timeout time.Duration, log *slog.Logger) http.Handler {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ResponseHeaderTimeout = timeout
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			rest := strings.TrimPrefix(pr.In.URL.Path, apiPrefix)
			base := pick(routes, fallback, rest)
			basePath := strings.TrimSuffix(base.Path, "/")
			pr.Out.URL.Scheme = base.Scheme
			pr.Out.URL.Host = base.Host
			pr.Out.URL.Path = basePath + rest
			pr.Out.URL.RawPath = ""
			if raw := pr.In.URL.RawPath; raw != "" {
				pr.Out.URL.RawPath = basePath + strings.TrimPrefix(raw, apiPrefix)
			}
			pr.Out.Host = base.Host
			pr.Out.Header.Del("Cookie")
			pr.SetXForwarded()
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.WarnContext(r.Context(), "platform API unreachable", "path", r.URL.Path, "error", err)
			host := pick(routes, fallback, strings.TrimPrefix(r.URL.Path, apiPrefix)).Host
			writeStatus(w, http.StatusBadGateway, 14, "the platform API at "+host+" did not answer: "+errorText(err))
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, apiPrefix)
		// Only the public REST surface is reachable through the console,
		// not whatever else the entry may serve.
		if !strings.HasPrefix(rest, "/v1/") || strings.Contains(rest, "/../") || strings.HasSuffix(rest, "/..") {
			writeStatus(w, http.StatusNotFound, 5, "the console passes only /v1/ paths of the public API")
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete:
		default:
			w.Header().Set("Allow", "GET, POST, PATCH, DELETE")
			writeStatus(w, http.StatusMethodNotAllowed, 12, "method "+r.Method+" is not part of the public API")
			return
		}
		proxy.ServeHTTP(w, r)
	})
}

func errorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// writeStatus answers in the shape of google.rpc.Status, as the services do,
// so the UI shows every error the same way.
func writeStatus(w http.ResponseWriter, httpCode, grpcCode int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpCode)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": grpcCode, "message": msg, "details": []any{}})
}
