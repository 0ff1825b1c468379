# Guichet — build, private PostGIS cluster, run and test.
#
# Two commands matter (README): `make run` and `make test`. Everything they
# need is installed or created here, idempotently, so that a fresh Debian 12
# machine goes from a clean clone to a serving portal with one of them.

SHELL := /bin/bash

# --- Debian packages -------------------------------------------------------
# Build and run dependencies, then test-only ones. `deps` installs the missing
# ones when root and otherwise prints the exact apt-get line and stops.
DEB_BUILD := gcc make pkg-config libmicrohttpd-dev libjansson-dev \
             libsodium-dev libgeos-dev libpq-dev libgdal-dev libseccomp-dev \
             postgresql-15 postgresql-15-postgis-3
DEB_TEST  := libcmocka-dev chromium clang libclang-rt-14-dev gdal-bin nginx-light
# Commands that may come from elsewhere than Debian (a NodeSource nodejs
# bundles npm): installed from Debian only when missing.
CMD_PKGS  := node:nodejs npm:npm
DEB_BENCH := wrk curl
DEB_ALL   := $(DEB_BUILD) $(DEB_TEST)

# --- Build -----------------------------------------------------------------
BUILD    := build
PKGS     := libmicrohttpd jansson libsodium libpq geos gdal libseccomp
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wvla \
            -Wno-missing-field-initializers
CFLAGS   ?= -O2 -g
ALLCFLAGS = -std=c11 -D_GNU_SOURCE -DGEOS_USE_ONLY_R_API $(WARN) \
            -fstack-protector-strong -fPIE $(CFLAGS) \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
LDFLAGS  ?= -pie -Wl,-z,relro,-z,now

APP_SRC  := $(wildcard app/*.c)
LIB_SRC  := $(filter-out app/main.c,$(APP_SRC))
APP_OBJ  := $(APP_SRC:app/%.c=$(BUILD)/obj/%.o)
LIB_OBJ  := $(LIB_SRC:app/%.c=$(BUILD)/obj/%.o)
ASAN_OBJ := $(APP_SRC:app/%.c=$(BUILD)/asan/%.o)
ASANFLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
             -fno-omit-frame-pointer
# libFuzzer targets (clang), one per parser of untrusted input.
FUZZ_CC    := clang
FUZZFLAGS  := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
FUZZ_OBJ   := $(LIB_SRC:app/%.c=$(BUILD)/fuzz/%.o)
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN   := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_SECONDS ?= 300
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)

BIN      := $(BUILD)/guichet
ASAN_BIN := $(BUILD)/asan/guichet

# --- Private PostgreSQL cluster ---------------------------------------------
# The cluster lives under the checkout (.pg/). PostgreSQL refuses to run as
# root, so as root its programs run as the `postgres` system user, which must
# be able to reach the folder: when a parent of the checkout is closed to
# others (a checkout under /root), the cluster goes to /tmp instead. Unix
# socket paths are limited to ~107 bytes, hence the short fallback for it.
PG_BIN   := $(shell pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
DB_PORT  ?= 54329
DB_NAME  ?= guichet
DB_USER  := postgres
TMPKEY   := $(shell printf %s '$(CURDIR)' | cksum | cut -d' ' -f1)
# Another DB_PORT gets a cluster of its own (.pg-PORT), so that several
# test runs of one checkout do not stop or restart each other's.
PG_SUFFIX := $(if $(filter 54329,$(DB_PORT)),,-$(DB_PORT))
ifndef DB_DIR
DB_DIR := $(shell d='$(CURDIR)'; ok=1; \
  while [ "$$d" != / ]; do case $$(stat -c %A "$$d") in (*[xt]) ;; (*) ok=0;; esac; \
  d=$$(dirname "$$d"); done; \
  if [ $$ok = 1 ] || [ "$$(id -u)" != 0 ]; then echo '$(CURDIR)/.pg$(PG_SUFFIX)'; \
  else echo /tmp/guichet-$(TMPKEY)$(PG_SUFFIX); fi)
endif
ifndef DB_SOCK
DB_SOCK := $(shell d='$(DB_DIR)/sock'; if [ $${#d} -lt 80 ]; then echo "$$d"; \
  else echo /tmp/guichet-s-$(TMPKEY); fi)
endif
ifeq ($(shell id -u),0)
AS_PG := runuser -u postgres --
else
AS_PG :=
endif
DB_ENV := PGHOST=$(DB_SOCK) PGPORT=$(DB_PORT) PGUSER=$(DB_USER) PGDATABASE=$(DB_NAME)

.PHONY: all deps build run test unit api api-asan api-nodes browser asan migrate check-config refdata fuzz \
        npm-deps \
        db-start db-stop db-restart stop clean-db psql clean bench security

all: build

deps:
	@missing=$$({ for p in $(DEB_ALL) $(EXTRA_DEBS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	done; for cp in $(CMD_PKGS); do \
	  command -v $${cp%%:*} >/dev/null || echo $${cp#*:}; \
	done; } | tr '\n' ' '); \
	if [ -n "$${missing// /}" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing: $$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -q --no-install-recommends $$missing; \
	  else \
	    echo "Missing Debian packages. Install them as root, then run make again:"; \
	    echo "  apt-get install -y --no-install-recommends $$missing"; exit 1; \
	  fi; \
	fi

build: deps
	@$(MAKE) --no-print-directory $(BIN)

$(BIN): $(APP_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: app/%.c app/*.h | $(BUILD)/obj
	$(CC) $(ALLCFLAGS) -c -o $@ $<

$(ASAN_BIN): $(ASAN_OBJ)
	$(CC) $(ASANFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/asan/%.o: app/%.c app/*.h | $(BUILD)/asan
	$(CC) $(filter-out -fPIE -O2,$(ALLCFLAGS)) $(ASANFLAGS) -c -o $@ $<

$(BUILD)/unit/%: tests/unit/%.c $(LIB_OBJ) tests/unit/*.h | $(BUILD)/unit
	$(CC) $(ALLCFLAGS) -Iapp -o $@ $< $(LIB_OBJ) $(LDLIBS) -lcmocka

$(BUILD)/fuzz/%.o: app/%.c app/*.h | $(BUILD)/fuzz
	$(FUZZ_CC) $(filter-out -fPIE -O2,$(ALLCFLAGS)) $(FUZZFLAGS) \
	  -fsanitize=fuzzer-no-link -c -o $@ $<

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(filter-out -fPIE -O2,$(ALLCFLAGS)) $(FUZZFLAGS) -Iapp \
	  -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LDLIBS)

$(BUILD)/bench/commune_bench: bench/commune_bench.c $(LIB_OBJ) | $(BUILD)/bench
	$(CC) $(ALLCFLAGS) -Iapp -o $@ $< $(LIB_OBJ) $(LDLIBS)

$(BUILD)/obj $(BUILD)/asan $(BUILD)/unit $(BUILD)/fuzz $(BUILD)/bench:
	mkdir -p $@

asan: deps
	@$(MAKE) --no-print-directory $(ASAN_BIN)

# --- Database ---------------------------------------------------------------
db-start: deps
	@if [ ! -f '$(DB_DIR)/data/PG_VERSION' ]; then \
	  echo "Creating the private PostgreSQL cluster in $(DB_DIR)"; \
	  if [ -n '$(AS_PG)' ]; then install -d -o postgres -g postgres -m 700 '$(DB_DIR)' '$(DB_DIR)/data'; \
	  else install -d -m 700 '$(DB_DIR)' '$(DB_DIR)/data'; fi; \
	  $(AS_PG) '$(PG_BIN)/initdb' -D '$(DB_DIR)/data' -U $(DB_USER) --auth=trust \
	    -E UTF8 --locale=C.UTF-8 -N >'$(DB_DIR)/initdb.log' 2>&1 \
	    || { cat '$(DB_DIR)/initdb.log'; exit 1; }; \
	fi
	@if [ -n '$(AS_PG)' ]; then install -d -o postgres -g postgres -m 755 '$(DB_SOCK)'; \
	else install -d -m 755 '$(DB_SOCK)'; fi
	@if ! $(AS_PG) '$(PG_BIN)/pg_ctl' -D '$(DB_DIR)/data' status >/dev/null 2>&1; then \
	  $(AS_PG) '$(PG_BIN)/pg_ctl' -D '$(DB_DIR)/data' -l '$(DB_DIR)/data/postgresql.log' -w \
	    -o "-k $(DB_SOCK) -c listen_addresses=127.0.0.1 -p $(DB_PORT)" start >/dev/null \
	    || { tail -n 20 '$(DB_DIR)/data/postgresql.log'; exit 1; }; \
	  echo "PostgreSQL listening on 127.0.0.1:$(DB_PORT) and $(DB_SOCK)"; \
	fi
	@$(DB_ENV) psql -d postgres -XtAc "SELECT 1 FROM pg_database WHERE datname = '$(DB_NAME)'" \
	  | grep -q 1 || $(DB_ENV) '$(PG_BIN)/createdb' $(DB_NAME)

db-stop stop:
	@if [ -f '$(DB_DIR)/data/PG_VERSION' ] && \
	   $(AS_PG) '$(PG_BIN)/pg_ctl' -D '$(DB_DIR)/data' status >/dev/null 2>&1; then \
	  $(AS_PG) '$(PG_BIN)/pg_ctl' -D '$(DB_DIR)/data' -m fast -w stop >/dev/null && \
	  echo "PostgreSQL stopped"; \
	fi

# Used by the API tests to prove that the server survives a database restart.
db-restart:
	@$(AS_PG) '$(PG_BIN)/pg_ctl' -D '$(DB_DIR)/data' -l '$(DB_DIR)/data/postgresql.log' -m fast -w \
	  -o "-k $(DB_SOCK) -c listen_addresses=127.0.0.1 -p $(DB_PORT)" restart >/dev/null

clean-db: db-stop
	rm -rf '$(DB_DIR)' '$(DB_SOCK)'

psql: db-start
	@$(DB_ENV) psql

# --- Run ----------------------------------------------------------------------
migrate: build db-start
	@$(DB_ENV) $(BIN) migrate

check-config: build
	@$(BIN) check-config

# Reference outlines (the shared Occitanie files when present; production
# loads the full ADMIN EXPRESS files the same way) and the COG commune list.
REFDATA ?= $(wildcard $(CURDIR)/../shared/refdata/occitanie) \
	   $(CURDIR)/node_modules/@etalab/decoupage-administratif
refdata: migrate npm-deps
	@$(DB_ENV) $(BIN) load-refdata $(REFDATA)

run: build db-start migrate refdata npm-deps
	@$(DB_ENV) $(BIN) demo
	@$(DB_ENV) GUICHET_MAIL_LOG=yes exec $(BIN) serve

# --- Tests --------------------------------------------------------------------
# Every suite runs even when an earlier one failed; the exit status is non-zero
# if any did. The API suite runs twice: on the normal build and on the
# AddressSanitizer + UndefinedBehaviorSanitizer build.
test: build asan migrate npm-deps refdata
	@$(MAKE) --no-print-directory $(UNIT_BIN)
	@rc=0; \
	$(MAKE) --no-print-directory unit || rc=1; \
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10 || rc=1; \
	$(MAKE) --no-print-directory api || rc=1; \
	$(MAKE) --no-print-directory browser || rc=1; \
	$(MAKE) --no-print-directory api-asan || rc=1; \
	exit $$rc

unit: $(UNIT_BIN) db-start
	@rc=0; for t in $(UNIT_BIN); do $(DB_ENV) $$t || rc=1; done; exit $$rc

TEST_ENV = $(DB_ENV) TEST_ROOT=$(CURDIR) TEST_REFDATA="$(strip $(REFDATA))" TEST_PG_BIN=$(PG_BIN)
API_FILES ?= tests/api/*.test.mjs

api: $(BIN)
	@$(TEST_ENV) TEST_BIN=$(CURDIR)/$(BIN) node --test --test-concurrency=1 $(API_FILES)

# The API suite on two nodes: every server a test starts is two guichet
# processes on one database behind nginx, which sends requests to them in
# turn (tests/api/harness.mjs, TEST_NODES=2). NODE_FILES leaves out the
# files that test one process itself (see README, Two nodes).
NODE_FILES ?= $(filter-out $(addprefix tests/api/,$(NODE_LOCAL)),$(wildcard tests/api/*.test.mjs))
NODE_LOCAL := http.test.mjs hostile.test.mjs hostile-bodies.test.mjs shutdown.test.mjs

api-nodes: $(BIN)
	@$(TEST_ENV) TEST_BIN=$(CURDIR)/$(BIN) TEST_NODES=2 \
	  node --test --test-concurrency=1 $(NODE_FILES)

api-asan: $(ASAN_BIN)
	@$(TEST_ENV) TEST_BIN=$(CURDIR)/$(ASAN_BIN) TEST_SANITIZED=1 \
	  node --test --test-concurrency=1 $(API_FILES)

# The API suite with every guichet under valgrind memcheck (through the
# tests/valgrind-guichet wrapper): a memory error, or a block definitely
# lost at exit, is exit status 99 and fails the test that ran it. The
# sanitized builds' time limits are enough (TEST_SANITIZED). By default a
# subset, some 5 minutes: the HTTP layer, the form engine and geometries,
# hostile input, two nodes and a read-only one; VALGRIND_FILES='tests/api/*.test.mjs' runs them all (some
# 40 minutes; sandbox.test.mjs expects the seccomp filter the wrapper
# turns off).
.PHONY: api-valgrind
VALGRIND_FILES ?= tests/api/http.test.mjs tests/api/submissions.test.mjs \
                  tests/api/hostile-bodies.test.mjs tests/api/nodes.test.mjs \
                  tests/api/replica.test.mjs
api-valgrind: $(BIN)
	@$(MAKE) --no-print-directory deps EXTRA_DEBS=valgrind
	@$(TEST_ENV) TEST_BIN=$(CURDIR)/tests/valgrind-guichet \
	  VG_BIN=$(CURDIR)/$(BIN) TEST_SANITIZED=1 \
	  node --test --test-concurrency=1 $(VALGRIND_FILES)

# Front-end and test packages from npm, as pinned by package-lock.json.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
npm-deps: deps node_modules/.package-lock.json static/vendor/leaflet/leaflet-src.esm.js

# Front-end packages are served from static/vendor/ (not committed).
static/vendor/leaflet/leaflet-src.esm.js: node_modules/.package-lock.json
	mkdir -p static/vendor/leaflet
	cp -R node_modules/leaflet/dist/leaflet-src.esm.js node_modules/leaflet/dist/leaflet.css \
	  node_modules/leaflet/dist/images static/vendor/leaflet/

BROWSER_FILES ?= tests/browser/*.test.mjs

browser: $(BIN) npm-deps
	@$(TEST_ENV) TEST_BIN=$(CURDIR)/$(BIN) CHROMIUM=/usr/bin/chromium \
	  node --test --test-concurrency=1 $(BROWSER_FILES)

# Each fuzz target runs FUZZ_SECONDS from its committed corpus (new inputs
# go to build/fuzz/, the committed seeds are only read); make test runs a
# short pass, make fuzz a long one.
fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZ_BIN)
	@rc=0; for t in $(FUZZ_NAMES); do \
	  mkdir -p $(BUILD)/fuzz/corpus-$$t; \
	  echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
	  $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -timeout=10 -rss_limit_mb=2048 -artifact_prefix=$(BUILD)/fuzz/ \
	    $(BUILD)/fuzz/corpus-$$t tests/fuzz/corpus/$$t \
	    2>$(BUILD)/fuzz/$$t.log || { rc=1; tail -n 40 $(BUILD)/fuzz/$$t.log; }; \
	  grep -E 'stat::number_of_executed_units|stat::peak_rss' $(BUILD)/fuzz/$$t.log | tr '\n' ' '; echo; \
	done; exit $$rc

bench: migrate refdata
	@$(MAKE) --no-print-directory deps EXTRA_DEBS="$(DEB_BENCH)"
	@$(MAKE) --no-print-directory $(BUILD)/bench/commune_bench
	@$(DB_ENV) REFDATA="$(strip $(REFDATA))" bench/run

# --- Security scans ------------------------------------------------------------
# Not part of `make test`: sqlmap over every parameter of the route table and
# of the forms, wapiti over the UI, against a server of its own on a fresh
# database (tests/security/). Reports go to SECURITY_OUT; the exit status is
# non-zero when sqlmap finds an injectable parameter or wapiti a finding of
# medium severity or above.
DEB_SECURITY := sqlmap wapiti
SECURITY_OUT ?= $(BUILD)/security

security: build migrate refdata npm-deps
	@$(MAKE) --no-print-directory deps EXTRA_DEBS="$(DEB_SECURITY)"
	@$(TEST_ENV) TEST_BIN=$(CURDIR)/$(BIN) SECURITY_OUT=$(abspath $(SECURITY_OUT)) \
	  node tests/security/scan.mjs

clean:
	rm -rf $(BUILD)
