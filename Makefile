# airlock: the two commands a user needs are `make demo` and `make test` (as root on Debian).
# Both install what is missing first. See README.md.
SHELL := /bin/bash
SWIFT ?= swift
VENV := .venv
APT_PACKAGES := libsodium-dev libnl-3-dev libnl-route-3-dev pkg-config python3-venv gcc libgmp-dev iproute2 curl

.PHONY: deps apt venv build test demo bench clean

deps: apt venv

# Debian packages, installed only when one is missing.
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
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

test: deps
	$(SWIFT) build --build-tests
	AIRLOCK_VENV=$(CURDIR)/$(VENV) $(SWIFT) test --skip-build

demo: apt
	@echo "The end-to-end demo arrives with the agents issue; see README.md."

clean:
	rm -rf .build $(VENV)
