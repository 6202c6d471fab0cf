// Package imagecheck holds the checks of the service images that
// `make images` builds (deploy/images/build.sh): every image's binary is
// statically linked, its configured user is not root, and it carries no
// shell. The images are read from OCI layouts on disk, so no Docker daemon
// or registry is involved.
package imagecheck
