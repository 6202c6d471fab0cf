// Package chartcheck holds the offline checks of the Helm charts in charts/
// and of the deployment files in deploy/: helm lint --strict with every
// environment's values, helm template for every combination of the charts'
// switches, strict decoding of every rendered object into the Kubernetes API
// types (unknown fields fail), the platform's policies (resources, probes,
// security context, PDBs, pinned images), the values schemas, and the
// monitoring rules and dashboard. Everything runs in `go test` with Helm as a
// library, so no cluster, Docker daemon or helm binary is needed.
//
// The image checks live in the images subpackage; cmd/baseimage builds the
// base image that `make images` gives ko.
package chartcheck
