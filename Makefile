# takedown: build, run and test the pipeline.
SHELL := /usr/bin/env bash
GO ?= go
SERVICES := ingest hasher matcher review enforcer
MODULES := pkg $(addprefix services/,$(SERVICES)) cmd/takedownctl tests
# Packages of every workspace module, by import path (go.work has no ./... across modules).
PKGS = $(foreach m,$(MODULES),$(shell cd $(m) && $(GO) list -f '{{.ImportPath}}' ./... ))
TEST_FLAGS ?= -race -count=1 -timeout 20m

.PHONY: build run test test-env test-env-down lint fmt clean

## build: every binary into bin/
build:
	@mkdir -p bin
	@for s in $(SERVICES); do $(GO) build -o bin/$$s ./services/$$s || exit 1; done
	$(GO) build -o bin/takedownctl ./cmd/takedownctl
	@echo "built: $$(ls bin | tr '\n' ' ')"

## run: the whole pipeline on the embedded default (kfake + in-process Redis) with the demo
run: build
	bin/takedownctl dev

## test: every test, against a real Kafka broker and a real redis-server
test:
	@eval "$$(scripts/test-env.sh up)" && \
	TAKEDOWN_TEST_REQUIRE_SERVICES=1 $(GO) test $(TEST_FLAGS) $(PKGS)

## test-env / test-env-down: start or stop the test Kafka and Redis
test-env:
	scripts/test-env.sh up
test-env-down:
	scripts/test-env.sh down

## lint: gofmt, go vet and staticcheck over every module
lint:
	@test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); exit 1; }
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

fmt:
	gofmt -w $(MODULES)

clean:
	rm -rf bin
