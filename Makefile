# takedown: build, run and test the pipeline.
SHELL := /usr/bin/env bash
GO ?= go
# go.mod names go1.27.3 (go1.26.8's standard library and x/net v0.59 have reachable
# vulnerabilities); machines whose Go is older fetch it from the module proxy.
export GOTOOLCHAIN ?= go1.27.3
SERVICES := ingest hasher matcher review enforcer
MODULES := pkg $(addprefix services/,$(SERVICES)) cmd/takedownctl tests
# Packages of every workspace module, by import path (go.work has no ./... across modules).
# $(shell) does not see exported variables in GNU make 4.3: GOTOOLCHAIN is passed by hand.
PKGS = $(foreach m,$(MODULES),$(shell cd $(m) && GOTOOLCHAIN=$(GOTOOLCHAIN) $(GO) list -f '{{.ImportPath}}' ./... ))
TEST_FLAGS ?= -race -count=1 -timeout 20m
# make lint's govulncheck and its offline database (scripts/vulndb.sh builds and caches it).
GOVULNCHECK_VERSION ?= v1.9.0
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
# Starts the test Kafka and Redis and exports their addresses. Not a bare
# eval "$$(...)": eval of a failed substitution succeeds, and the tests would
# then run, and fail one by one, without the services.
TEST_ENV = env=$$(scripts/test-env.sh up) || { echo "make: scripts/test-env.sh up failed (its output is above): no Kafka or Redis for the tests" >&2; exit 1; }; eval "$$env"

.PHONY: help docs build run test test-env test-env-down lint fmt clean images images-check images-push bench-match pdq-compare robustness bench-hash bench-startup bench-e2e chaos chaos-ci chart-check chart-docs

## build: every binary into bin/
build:
	@mkdir -p bin
	@for s in $(SERVICES); do $(GO) build -o bin/$$s ./services/$$s || exit 1; done
	$(GO) build -o bin/takedownctl ./cmd/takedownctl
	@echo "built: $$(ls bin | tr '\n' ' ')"

## run: the whole pipeline on the embedded default (kfake + in-process Redis) with the demo
run: build
	bin/takedownctl dev

## test: every test, against a real Kafka broker and a real redis-server, then the Helm chart's (make chart-check, against a real kube-apiserver)
test:
	@$(TEST_ENV) && \
	TAKEDOWN_TEST_REQUIRE_SERVICES=1 $(GO) test $(TEST_FLAGS) $(filter-out %/tests/chart,$(PKGS)) && \
	echo "vPDQ conformance, every frame at full size (under -race only every 8th is):" && \
	(cd pkg && TAKEDOWN_TEST_REQUIRE_SERVICES=1 $(GO) test -count=1 -run 'Conformance' ./hashing/video/) && \
	$(MAKE) --no-print-directory chart-check

## images: the six container images (takedown-ingest, -hasher, -matcher, -review, -enforcer, -takedownctl), offline, into buildah's storage under ~/.cache/takedown (docs/images.md); needs root
IMAGE_TAG ?= latest
# The bases: made here (localhost/takedown), or pulled from a registry by these digests.
BASE_REGISTRY ?= localhost/takedown
BASE_STATIC_DIGEST ?=
BASE_HASHER_DIGEST ?=
images:
	TAKEDOWN_IMAGE_TAG=$(IMAGE_TAG) TAKEDOWN_BASE_REGISTRY=$(BASE_REGISTRY) \
	TAKEDOWN_BASE_STATIC_DIGEST=$(BASE_STATIC_DIGEST) TAKEDOWN_BASE_HASHER_DIGEST=$(BASE_HASHER_DIGEST) scripts/images.sh build

## images-check: run each image's binary (and ffmpeg, ffprobe, prlimit in the hasher's) with buildah run, check users, entrypoints, no shell or package manager, and measure the sizes
images-check:
	cd tests && TAKEDOWN_TEST_IMAGES=1 TAKEDOWN_IMAGE_TAG=$(IMAGE_TAG) $(GO) test -count=1 -v -run 'TestImages$$' ./images/

## images-push REGISTRY=registry.example.com/takedown: push the bases and the images there
images-push:
	@test -n "$(REGISTRY)" || { echo "make images-push REGISTRY=registry.example.com/takedown" >&2; exit 2; }
	TAKEDOWN_IMAGE_TAG=$(IMAGE_TAG) scripts/images.sh push $(REGISTRY)

## test-env / test-env-down: start or stop the test Kafka and Redis
test-env:
	scripts/test-env.sh up
test-env-down:
	scripts/test-env.sh down

## docs: write docs/settings.md, the settings of every service and takedownctl command, from the code that binds them (a test fails when it is stale)
docs:
	cd tests && $(GO) run ./cmd/settingsdoc -o ../docs/settings.md

## lint: gofmt, go vet, staticcheck and govulncheck (offline vulnerability database) over every module
lint:
	@test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); exit 1; }
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)
	@db=$$(scripts/vulndb.sh $(VULNDB_VERSION)) || { echo "make: scripts/vulndb.sh failed (its output is above): no vulnerability database" >&2; exit 1; }; \
	failed=; for m in $(MODULES); do \
		echo "govulncheck $$m (database golang.org/x/vulndb@$(VULNDB_VERSION))"; \
		( cd $$m && $(GO) run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) -db "file://$$db" ./... ) || failed="$$failed $$m"; \
	done; \
	test -z "$$failed" || { echo "make: govulncheck found reachable vulnerabilities (or failed) in:$$failed" >&2; exit 1; }

## robustness: the robustness table (docs/matching.md): altered copies of a corpus of distinct pictures, matched as the pipeline does
robustness:
	@corpus="$$(scripts/robustness-corpus.sh)" && $(GO) run ./cmd/takedownctl robustness --images "$$corpus"

## robustness-negatives: the robustness table with the second negative set (scripts/robustness-corpus.sh --negatives, over 2,000 distinct pictures) banked beside the corpus: every copy and every negative matched against it
.PHONY: robustness-negatives
robustness-negatives:
	@corpus="$$(scripts/robustness-corpus.sh)" && negatives="$$(scripts/robustness-corpus.sh --negatives)" && \
		$(GO) run ./cmd/takedownctl robustness --images "$$corpus" --negatives "$$negatives" --verbose

## robustness-video: the video robustness table (docs/matching.md): altered copies (crop, picture-in-picture, letterbox, frame rates, rotation, mirror, low bitrate) of a corpus of distinct videos (scripts/robustness-video-corpus.sh), matched as takedownctl match does
.PHONY: robustness-video
robustness-video:
	@corpus="$$(scripts/robustness-video-corpus.sh)" && $(GO) run ./cmd/takedownctl robustness --videos "$$corpus" --verbose

## bench-hash: decode + PDQ + pHash + dHash + MD5 + SHA-256 of 1-megapixel JPEGs, per core, fast path vs image/jpeg
bench-hash:
	cd pkg && $(GO) test -run '^$$' -bench 'HashJPEG1MP' -cpu 1 -count 6 ./hashing/mediahash/

## pdq-compare: hash reference and generated images with package pdq and with Meta's C++ (PyPI pdqhash) and print the distances
pdq-compare:
	scripts/pdq-compare.sh

## vpdq-compare: hash the sample videos and generated ones with package video and with Meta's vPDQ (PyPI vpdq) and print frame agreement and distances
.PHONY: vpdq-compare
vpdq-compare:
	scripts/vpdq-compare.sh

## bench-video: vPDQ of a generated 720p 30 fps clip (20 s) at 1 frame per second and every frame: frames/s and times real time, per CPU-second
.PHONY: bench-video
bench-video:
	cd pkg && $(GO) test -run '^$$' -bench 'Video' -benchtime 3x -count 3 ./hashing/video/

## bench-match: PDQ match structures on 1M and 10M generated hashes vs a linear scan and FAISS (TAKEDOWN_BENCH_QUICK=1: 1M only)
bench-match:
	@venv="$$HOME/.cache/takedown/venv-bench"; \
	test -x "$$venv/bin/python" || python3 -m venv "$$venv"; \
	"$$venv/bin/python" -c 'import faiss, numpy' 2>/dev/null || "$$venv/bin/pip" install -q faiss-cpu numpy; \
	$(GO) run ./pkg/matching/index/internal/benchmatch -python "$$venv/bin/python" -faiss-script scripts/bench_match_faiss.py

## bench-startup: matcher start-up from a 10M-entry bank snapshot vs replaying 1M updates from the real broker (TAKEDOWN_BENCH_SNAPSHOT_ENTRIES, TAKEDOWN_BENCH_REPLAY_UPDATES change the sizes)
bench-startup:
	@$(TEST_ENV) && cd services/matcher && TAKEDOWN_TEST_REQUIRE_SERVICES=1 $(GO) test -run '^$$' -bench 'Startup' -benchtime 1x -timeout 60m ./matcher/

## bench-e2e: the five service binaries on a broker and Redis of the harness's own (ports 29092, 26379): uploads/s, upload-to-takedown p50/p99/max and CPU per upload per process for a burst, a burst with 100 ms media latency and a paced run, beside the standalone hashing rate (BENCH_SIZE=small, BENCH_UPLOADS=N)
bench-e2e:
	cd tests && $(GO) run ./cmd/pipelinebench bench -root ..

## chaos: uploads while every service is killed with -9, the broker restarts, Redis goes away (data kept, then lost) and the platform answers 503; one summary line, non-zero exit on a lost, duplicate or false takedown (CHAOS_SIZE=small: about 4 min; TAKEDOWN_CONSUMER_CONCURRENCY=1 for one message at a time)
chaos:
	cd tests && $(GO) run ./cmd/pipelinebench chaos -root ..

## chaos-ci: make chaos at its small size, with the default concurrency and then one message at a time (what .ci/run guards)
chaos-ci:
	CHAOS_SIZE=small $(MAKE) chaos
	CHAOS_SIZE=small TAKEDOWN_CONSUMER_CONCURRENCY=1 $(MAKE) chaos

## chart-check: the Helm chart (deployments/helm/takedown): helm lint, helm template of every value set in ci/, kubeconform -strict, a real kube-apiserver's server-side dry run, helm install/upgrade/uninstall and bad values; scripts/k8s-tools.sh builds and caches the tools (the API server: 6-10 CPU-minutes, once per machine)
chart-check:
	scripts/k8s-tools.sh build
	@cd tests && TAKEDOWN_TEST_REQUIRE_K8S=1 $(GO) test -count=1 -timeout 30m ./chart/; rc=$$?; \
	cd .. && scripts/k8s-tools.sh stop; exit $$rc

## chart-docs: regenerate the values reference of deployments/helm/takedown/README.md from the comments of values.yaml (helm-docs)
chart-docs:
	scripts/k8s-tools.sh build helm-docs
	@eval "$$(scripts/k8s-tools.sh env)" && "$$TAKEDOWN_TEST_HELM_DOCS" --log-level warning --chart-search-root deployments/helm/takedown --template-files README.md.gotmpl

fmt:
	gofmt -w $(MODULES)

clean:
	rm -rf bin

## help: this list of targets
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)
