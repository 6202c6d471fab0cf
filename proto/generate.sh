#!/usr/bin/env bash
# Regenerates the Go, gRPC, grpc-gateway and OpenAPI v2 code of every .proto
# file under proto/. Called by `make proto`, which puts protoc (Debian's
# protobuf-compiler) and the pinned plugins (.bin/) on PATH first.
#
# The output must depend only on the .proto files and the pinned tool
# versions, so that `make proto` on a clean tree changes nothing: inputs are
# sorted, and stale generated files are deleted before generating.
set -euo pipefail

cd "$(dirname "$0")"
PROTO_DIR=$(pwd)

for tool in protoc protoc-gen-go protoc-gen-go-grpc protoc-gen-grpc-gateway protoc-gen-openapiv2; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "generate.sh: $tool not on PATH (run 'make deps tools' or 'make proto')" >&2
		exit 1
	fi
done

# google/api/annotations.proto and http.proto are not shipped with protoc and
# are not copied into the repo: grpc-gateway v1.16.0 carries them in
# third_party/googleapis. Download it in a throwaway module so no go.mod of
# the repo changes.
GOOGLEAPIS_MODULE=github.com/grpc-ecosystem/grpc-gateway@v1.16.0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gateway_dir=$(cd "$tmp" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$GOOGLEAPIS_MODULE" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
GOOGLEAPIS="$gateway_dir/third_party/googleapis"
if [ ! -f "$GOOGLEAPIS/google/api/annotations.proto" ]; then
	echo "generate.sh: google/api/annotations.proto not found under $GOOGLEAPIS" >&2
	exit 1
fi

# protoc-gen-openapiv2/options/*.proto (document title, security scheme)
# come from the grpc-gateway v2 module at the version the root go.mod pins
# for the plugins, so options and plugin always match.
openapiv2_dir=$(cd .. && GOWORK=off go mod download -json github.com/grpc-ecosystem/grpc-gateway/v2 |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ ! -f "$openapiv2_dir/protoc-gen-openapiv2/options/annotations.proto" ]; then
	echo "generate.sh: protoc-gen-openapiv2/options/annotations.proto not found under $openapiv2_dir" >&2
	exit 1
fi

# google/protobuf/*.proto ship with protoc (Debian: /usr/include).
PROTOC_INCLUDE=/usr/include
if [ ! -f "$PROTOC_INCLUDE/google/protobuf/timestamp.proto" ]; then
	PROTOC_INCLUDE=$(dirname "$(dirname "$(command -v protoc)")")/include
fi

export LC_ALL=C

# Delete everything generated before, so removed or renamed .proto files
# leave nothing behind.
find . -type f \( -name '*.pb.go' -o -name '*.pb.gw.go' \) -delete
find openapi -maxdepth 1 -type f -name '*.swagger.json' -delete

mapfile -t files < <(find . -name '*.proto' -printf '%P\n' | sort)
if [ "${#files[@]}" -eq 0 ]; then
	echo "generate.sh: no .proto files" >&2
	exit 1
fi

includes=(-I "$PROTO_DIR" -I "$GOOGLEAPIS" -I "$openapiv2_dir" -I "$PROTOC_INCLUDE")

# Go messages and gRPC stubs for every package, next to the .proto files.
protoc "${includes[@]}" \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	"${files[@]}"

# grpc-gateway handlers and one merged OpenAPI v2 document per service
# (openapi/<service>.swagger.json). Only API packages (<service>/v1) have
# services; events packages and commerce/v1 only have messages.
for service in loyalty referral recommendation segmentation; do
	mapfile -t svc_files < <(printf '%s\n' "${files[@]}" | grep "^$service/v1/" || true)
	if [ "${#svc_files[@]}" -eq 0 ]; then
		echo "generate.sh: no .proto files under $service/v1" >&2
		exit 1
	fi
	protoc "${includes[@]}" \
		--grpc-gateway_out=. --grpc-gateway_opt=paths=source_relative \
		--openapiv2_out=openapi \
		--openapiv2_opt=allow_merge=true,merge_file_name="$service",openapi_naming_strategy=simple \
		"${svc_files[@]}"
done
