# Peercam: build, test, check and demo. `make` alone lists the targets.
#
# The one test command (README, and what .ci/run runs): make test-full

.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:

GO ?= go
# The four binaries (DESIGN.md, "Parts and binaries").
CMDS := ./firmware/cmd/camd ./viewer/cmd/camview ./rendezvous/cmd/rendezvousd ./tools/camctl

# Version stamped into the binaries (main.version, where a main declares it).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BUILDFLAGS := -trimpath -ldflags '$(LDFLAGS)'

# Test knobs. Packages run two at a time (the CI machine has 2 cores); a
# test binary that hangs is stopped after TEST_TIMEOUT.
TEST_P ?= 2
TEST_TIMEOUT ?= 10m
# Build tags of the suites that run apart (test-web, test-arm, test-nat, test-deb,
# test-image): vet and staticcheck read their files too.
SUITE_TAGS := browser,armtest,debtest,imagetest,nattest

# Linter: staticcheck, run from the module proxy at a pinned version.
STATICCHECK_VERSION ?= v0.8.2

# Apt packages: scripts/install-deps.sh GROUP. SKIP_DEPS=1 skips it (other OS).
SKIP_DEPS ?=
deps_for = $(if $(SKIP_DEPS),@echo "deps: skipped (SKIP_DEPS=1)",scripts/install-deps.sh $(1))

.PHONY: help
help: ## list the targets
	@echo "Peercam. Usage: make TARGET"
	@echo
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'
	@echo
	@echo "The test command (what CI runs): make test-full"

.PHONY: build
build: web ## build camd, camview, rendezvousd and camctl into bin/ (camview with the web viewer)
	CGO_ENABLED=1 $(GO) build $(BUILDFLAGS) -o bin/ $(CMDS)

.PHONY: web
web: ## build the web viewer's WebAssembly (+ wasm_exec.js) into viewer/web/static, which camview embeds
	$(GO) run ./viewer/web/mkweb

.PHONY: test-web
test-web: ## the web viewer in Debian's Chromium against real rendezvousd and camd; screenshots in viewer/web/e2e/artifacts (or ARTIFACTS=DIR)
	$(call deps_for,web)
	$(GO) test -tags browser -count=1 -v -timeout 15m ./viewer/web/e2e/

.PHONY: test
test: ## quick suite: go test ./... (unit tests and loopback end to end)
	$(call deps_for,test)
	$(GO) test -p $(TEST_P) ./...

.PHONY: test-full
test-full: ## THE test command (CI runs it): go test -race -count=1 ./..., then test-web, test-arm, test-nat
	$(call deps_for,test web arm)
	CGO_ENABLED=1 $(GO) test -race -count=1 -p $(TEST_P) -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) --no-print-directory test-web test-arm test-nat

.PHONY: check
check: vet fmt-check lint race cross ## vet, gofmt, staticcheck, go test -race ./..., ARM cross builds

.PHONY: vet
vet: ## go vet ./... (with the suites' build tags)
	$(GO) vet -tags $(SUITE_TAGS) ./...

.PHONY: fmt-check
fmt-check: ## fail, listing them, if any Go file is not gofmt'ed
	@files=$$(git ls-files -co --exclude-standard -- '*.go' | xargs -r gofmt -l); \
	if [ -n "$$files" ]; then \
		echo "gofmt: these files need gofmt -w:"; echo "$$files"; exit 1; \
	fi; echo "gofmt: ok"

.PHONY: fmt
fmt: ## gofmt -w every Go file
	git ls-files -co --exclude-standard -- '*.go' | xargs -r gofmt -w

.PHONY: lint
lint: ## staticcheck (pinned, fetched through the module proxy)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -tags $(SUITE_TAGS) ./...

.PHONY: race
race: ## go test -race ./... (cached results allowed)
	$(call deps_for,test)
	CGO_ENABLED=1 $(GO) test -race -p $(TEST_P) -timeout $(TEST_TIMEOUT) ./...

.PHONY: test-turn
test-turn: ## TURN only: credentials, relay policy, rendezvousd wiring; relay and coturn interop end to end
	$(call deps_for,test)
	CGO_ENABLED=1 $(GO) test -race -count=1 ./rendezvous/turncred/ ./rendezvous/stunturn/ ./rendezvous/cmd/rendezvousd/
	$(GO) test -count=1 -run 'Relay|Coturn' ./e2e/

.PHONY: test-nat
test-nat: ## the NAT matrix through real kernel NAT in network namespaces with the real binaries (root), and on pion's vnet in process
	$(call deps_for,test)
	CGO_ENABLED=1 $(GO) test -tags nattest -count=1 -timeout 15m -v ./tools/netlab/...

.PHONY: nat-figures
nat-figures: build ## time to first frame through the NAT lab, direct and relayed, at 0, 20 and 100 ms of added round trip (root, ~5 min)
	$(GO) run ./tools/netlab matrix -figures -bin bin

.PHONY: test-arm
test-arm: ## ARM proof: Debian's arm64 kernel in qemu with vivid; camd captures through V4L2, camview here decodes (~5 min)
	$(call deps_for,arm)
	CGO_ENABLED=1 $(GO) test -tags armtest -count=1 -timeout 15m -v ./tools/armtest/

.PHONY: cross
cross: web ## build all four for linux/arm64 and linux/arm GOARM=7 (cgo: camd has openh264) and GOARM=6 (cgo-free) into dist/
	$(call deps_for,cross)
	@echo "== linux/arm64 (cgo: camd links openh264)"
	GOOS=linux GOARCH=arm64 CGO_ENABLED=1 CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ \
		$(GO) build $(BUILDFLAGS) -o dist/linux-arm64/ $(CMDS)
	@echo "== linux/arm GOARM=7 (cgo: camd links openh264)"
	GOOS=linux GOARCH=arm GOARM=7 CGO_ENABLED=1 CC=arm-linux-gnueabihf-gcc CXX=arm-linux-gnueabihf-g++ \
		$(GO) build $(BUILDFLAGS) -o dist/linux-armv7/ $(CMDS)
	@echo "== linux/arm GOARM=6 (cgo-free: no software encoder)"
	GOOS=linux GOARCH=arm GOARM=6 CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -o dist/linux-armv6/ $(CMDS)
	@echo "== sizes"
	@ls -l dist/linux-arm64 dist/linux-armv7 dist/linux-armv6

# Debian packages and the Raspberry Pi image (packaging/, tools/image). The
# package version: X.Y.Z from a tag vX.Y.Z, else 0.0~gitN.gHASH.
DEB_VERSION ?= $(shell packaging/version.sh)
IMAGE ?= dist/image/peercam-rpi-arm64.img

.PHONY: deb
deb: ## Debian packages into dist/deb: peercam (camd, camctl) for arm64, armhf, armel; peercam-rendezvous for amd64, arm64
	$(call deps_for,cross)
	packaging/build.sh -v '$(DEB_VERSION)' -o dist/deb

.PHONY: test-deb
test-deb: ## the arm64 packages in a clean Debian root (debootstrap, qemu-user): install, first start, a viewer, upgrade, remove, purge; armhf and armel camd under qemu-user on their CPUs (root, ~7 min)
	$(call deps_for,image)
	CGO_ENABLED=1 $(GO) test -tags debtest -count=1 -timeout 40m -v ./packaging/

.PHONY: image
image: ## SD-card image for 64-bit Raspberry Pis (Debian 12, Peercam enabled) into $(IMAGE) (root, ~20 min)
	$(call deps_for,image)
	packaging/build.sh -v '$(DEB_VERSION)' -o dist/deb -c arm64 -r ""
	$(GO) run ./tools/image -deb 'dist/deb/peercam_$(DEB_VERSION)_arm64.deb' -out '$(IMAGE)'

.PHONY: test-image
test-image: ## build the image and boot it in qemu: first boot, peercam-setup.txt, SSH, camctl passwd, a viewer gets vivid's video (root, ~14 min)
	$(call deps_for,image)
	CGO_ENABLED=1 $(GO) test -tags imagetest -count=1 -timeout 60m -v ./tools/image/

.PHONY: demo
demo: ## run a rendezvous, a test-pattern camera and a viewer on 127.0.0.1 (scripts/demo.sh)
	$(call deps_for,demo)
	scripts/demo.sh

.PHONY: deps
deps: ## install the apt packages builds and tests need (Debian; skips what is installed)
	$(call deps_for,all)

.PHONY: clean
clean: ## remove bin/ and dist/
	rm -rf bin dist
