# airlock: the two commands a user needs are `make demo` and `make test` (as root on Debian).
# Both install what is missing first. See README.md.
SHELL := /bin/bash
SWIFT ?= swift
VENV := .venv
# slirp4netns: the bench's user-mode networking baseline (and its smoke test in `make test`).
APT_PACKAGES := libsodium-dev libnl-3-dev libnl-route-3-dev pkg-config python3-venv gcc libgmp-dev iproute2 curl slirp4netns

.PHONY: deps apt users venv build test demo bench clean

deps: apt users venv

# Debian packages, installed only when one is missing.
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
	fi

# The system accounts agents and shims run as (design §4), and the `airlock` group, created only
# when missing. airlock itself never creates accounts: it tells the user to run this.
# The agent and shim users get their own private groups, not `airlock`.
AIRLOCK_USERS := airlock-agent airlock-shim
users:
	@missing=""; getent group airlock >/dev/null || missing="$$missing group:airlock"; \
	for u in $(AIRLOCK_USERS); do getent passwd $$u >/dev/null || missing="$$missing $$u"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" -ne 0 ]; then echo "error: creating$$missing needs root: run make deps as root"; exit 1; fi; \
	  echo "creating:$$missing"; \
	  getent group airlock >/dev/null || groupadd --system airlock; \
	  for u in $(AIRLOCK_USERS); do \
	    getent passwd $$u >/dev/null || useradd --system --no-create-home --shell /usr/sbin/nologin $$u; \
	  done; \
	fi

# py-libp2p for the interop tests, pinned, in a local venv.
venv: $(VENV)/.installed
$(VENV)/.installed: Tests/Interop/requirements.txt
	@test -x $(VENV)/bin/python || /usr/bin/python3 -m venv $(VENV) || python3 -m venv $(VENV)
	@echo "installing py-libp2p into $(VENV) (first run builds fastecdsa; a minute or two)"
	@$(VENV)/bin/pip install -q --disable-pip-version-check -r Tests/Interop/requirements.txt
	@touch $@

build: apt
	$(SWIFT) build

# Tests that measure this process's heap run alone, one at a time, before the rest: other tests
# running in parallel in the same process would disturb their figures.
ISOLATED := idleConnectionsStaySmall|openResetAndOpenFinLoopsAreCapped|streamsBeyondTheCapAreReset|peerThatNeverReadsCannotGrowTheRelaysOutput

test: deps
	$(SWIFT) build --build-tests
	AIRLOCK_VENV=$(CURDIR)/$(VENV) $(SWIFT) test --skip-build --no-parallel --filter '$(ISOLATED)'
	AIRLOCK_VENV=$(CURDIR)/$(VENV) $(SWIFT) test --skip-build --skip '$(ISOLATED)'

# The main job: a relay, a service, and curl in agent namespaces (Relay/demo.sh says what it does).
demo: apt users
	@echo "building airlock (the first build takes a few minutes)"
	@$(SWIFT) build --quiet
	@bash Relay/demo.sh

# The benchmark (docs/performance.md): a release build, every phase, as root. A few minutes;
# writes bench.json beside the table.
bench: deps
	$(SWIFT) build -c release
	AIRLOCK_VENV=$(CURDIR)/$(VENV) .build/release/airlock bench --json bench.json

clean:
	rm -rf .build $(VENV)
