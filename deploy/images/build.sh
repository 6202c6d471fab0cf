#!/usr/bin/env bash
# Builds the four service images and the console's as OCI layouts with ko,
# without a Docker daemon or registry access: .images/<service>/ (one OCI
# image layout each).
#
#   deploy/images/build.sh            # all services, version from git
#   VERSION=1.2.3 PLATFORMS=linux/amd64,linux/arm64 deploy/images/build.sh loyalty
#
# Needs ko on PATH (`make tools` puts it in .bin/). `make images` runs this and
# then the image checks (charts/tests/images).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=${IMAGES_DIR:-$root/.images}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)}
platforms=${PLATFORMS:-linux/amd64}
services=("$@")
if [ ${#services[@]} -eq 0 ]; then
  services=(loyalty referral recommendation segmentation console)
fi

mkdir -p "$out"
export KOCACHE="$out/kocache"
# The base image goes into ko's cache; ko resolves its digest there offline.
base=$(go run ./charts/tests/cmd/baseimage -cache "$KOCACHE/img" -platforms "$platforms")
export KO_DEFAULTBASEIMAGE="$base"
export KO_CONFIG_PATH="$root/deploy/images"
export KO_DOCKER_REPO=${KO_DOCKER_REPO:-ghcr.io/affinity-platform}
# Tags must be valid OCI tags: "+" and "/" from git describe become "-".
tag=${version//[^A-Za-z0-9_.-]/-}

for svc in "${services[@]}"; do
  rm -rf "${out:?}/$svc"
  echo "ko build $svc ($tag, $platforms) -> $out/$svc"
  ko build "./services/$svc/cmd/$svc" \
    --base-import-paths \
    --push=false \
    --oci-layout-path "$out/$svc" \
    --platform "$platforms" \
    --tags "$tag" \
    --sbom none \
    --image-label "org.opencontainers.image.title=$svc" \
    --image-label "org.opencontainers.image.version=$tag" \
    --image-label "org.opencontainers.image.source=https://github.com/affinity-platform/affinity"
done
