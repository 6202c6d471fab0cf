# Affinity: loyalty and personalization platform.
#
#   make run    install what is missing, then start the whole platform locally
#   make test   install what is missing, then run every test
#
# Every Go module of the workspace is listed here once; targets loop over them.

SHELL      := /bin/bash
MODULES    := pkg proto deploy/local services/loyalty services/referral services/recommendation services/segmentation charts/tests services/console
BIN        := $(CURDIR)/.bin
export PATH := $(BIN):$(PATH)
GOTESTFLAGS ?= -count=1 -timeout 20m

.PHONY: all deps tools run demo test lint proto sqlc generate-check bench build clean helm-check images

all: build

## deps: install missing Debian packages (PostgreSQL server, protoc).
deps:
	@bash deploy/local/install-deps.sh

## tools: build the pinned Go tools (go.mod tool directives) into .bin/.
tools:
	@mkdir -p $(BIN)
	GOWORK=off go build -o $(BIN)/ tool

## build: compile every module.
build:
	go build $(addprefix ./,$(addsuffix /...,$(MODULES)))

## run: start PostgreSQL, the in-process Kafka broker, all services and the HTTP entry on :8080.
run: deps
	go run ./deploy/local

## demo: publish the Online Retail dataset to the running platform (make run first).
demo:
	go run ./deploy/local/platformctl import $(if $(DATASET),-dataset $(DATASET))

## test: every test of every module, against real PostgreSQL and a real Kafka-protocol broker.
test: deps
	go test $(GOTESTFLAGS) $(addprefix ./,$(addsuffix /...,$(MODULES)))

## lint: gofmt, go vet and staticcheck over every module.
lint: tools
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.' )); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet $(addprefix ./,$(addsuffix /...,$(MODULES)))
	staticcheck $(addprefix ./,$(addsuffix /...,$(MODULES)))

## proto: regenerate Go, gRPC, grpc-gateway and OpenAPI code from proto/.
proto: deps tools
	bash proto/generate.sh

## sqlc: regenerate the sqlc query code of every module that has a sqlc.yaml.
sqlc: tools
	@for f in $$(git ls-files '*sqlc.yaml'); do echo "sqlc generate -f $$f"; sqlc generate -f $$f || exit 1; done

## generate-check: fail when committed generated code differs from its sources.
generate-check: proto sqlc
	@git add -N . && if ! git diff --quiet -- . ; then echo "generated code is stale; run 'make proto sqlc' and commit:"; git diff --stat; exit 1; fi

## bench: every benchmark of every module, one package at a time so they do not compete for the cores, written up with the machine and the baselines in docs/benchmarks.md.
BENCHFLAGS ?=
bench: deps
	set -o pipefail; go test -p 1 -run '^$$' -bench . -benchmem -timeout 90m $(BENCHFLAGS) $(addprefix ./,$(addsuffix /...,$(MODULES))) 2>&1 | go run ./deploy/local/benchreport -o docs/benchmarks.md

## helm-check: helm lint --strict, helm template of every switch combination, strict decoding into Kubernetes API types, policy checks (Helm as a library: no cluster needed). Part of make test.
helm-check:
	go test $(GOTESTFLAGS) ./charts/tests/...

## images: build the four service images with ko (no Docker daemon) into .images/<service>/ and check them (static binary, non-root user).
images: tools
	bash deploy/images/build.sh
	AFFINITY_IMAGES_DIR=$(CURDIR)/.images go test -count=1 ./charts/tests/images

clean:
	rm -rf $(BIN) .images
