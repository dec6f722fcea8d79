# todo-api and the ugrpc library.
#
#   make                 build build/libugrpc.a, build/ugrpc.pc and build/todo-api
#   make run             build and run todo-api (in-memory store unless a database is configured)
#   make test            unit tests (C) and integration tests (real binary, real clients)
#   make test SANITIZER=address,undefined    the same under sanitizers (own build dir)
#   make lint            clang-format check and cppcheck
#   make format          apply clang-format
#   make clean
#
# Every target that needs system packages or the Python virtualenv runs the
# idempotent set-up step (third_party/deps.sh) itself.

SANITIZER ?=
empty :=
comma := ,
space := $(empty) $(empty)
ifeq ($(SANITIZER),)
BUILD ?= build
else
BUILD ?= build-$(subst $(comma),-,$(SANITIZER))
endif

CC ?= cc
PKGS := libnghttp2 libuv libprotobuf-c openssl zlib
OPT ?= -O2
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
        -Wformat=2 -Wvla -Wundef -Wnull-dereference -Wdouble-promotion
ifneq ($(CI),)
WARN += -Werror
endif
CFLAGS ?= $(OPT) -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -fvisibility=hidden -MMD -MP \
              $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
# The service needs mongo-c-driver; the library does not.
APP_CFLAGS := $(shell pkg-config --cflags libmongoc-1.0 2>/dev/null)
APP_LIBS := $(shell pkg-config --libs libmongoc-1.0 2>/dev/null) -lm
ifneq ($(SANITIZER),)
ALL_CFLAGS += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZER)
endif
# Races inside uninstrumented system libraries (see the file) are not ours.
export TSAN_OPTIONS ?= suppressions=$(abspath tests/tsan.supp) halt_on_error=0

GEN := $(BUILD)/gen
PY := .venv/bin/python

# Protos from system packages, compiled by protoc-c into the build tree:
# health, reflection and descriptor.proto are part of the library; the
# grpc.testing protos serve the interop test server.
GRPC_PROTO := /usr/share/grpc-proto
PB_INCLUDE := /usr/include
LIB_PROTOS := grpc/health/v1/health.proto grpc/reflection/v1/reflection.proto \
              grpc/reflection/v1alpha/reflection.proto google/protobuf/descriptor.proto
INTEROP_PROTOS := grpc/testing/empty.proto grpc/testing/messages.proto grpc/testing/test.proto
LIB_PROTO_C := $(LIB_PROTOS:%.proto=$(GEN)/%.pb-c.c)
LIB_PROTO_H := $(LIB_PROTO_C:.c=.h)
INTEROP_PROTO_C := $(INTEROP_PROTOS:%.proto=$(GEN)/%.pb-c.c)

LIB_SRCS := $(wildcard src/grpc/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(LIB_PROTO_C:.c=.o)
APP_SRCS := $(wildcard src/app/*.c src/todo/*.c)
APP_OBJS := $(APP_SRCS:%.c=$(BUILD)/%.o)
PROTO_C := $(GEN)/todos.pb-c.c $(GEN)/google/protobuf/field_mask.pb-c.c $(GEN)/todo_api_protoset.c
PROTO_OBJS := $(PROTO_C:%.c=%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

INCLUDES := -Isrc/grpc -Isrc/todo -Isrc/app -I$(GEN) $(APP_CFLAGS)

.PHONY: all run test unit integration lint format clean deps deps-test
.DEFAULT_GOAL := all
# Generated sources are kept between builds.
.SECONDARY:

all: $(BUILD)/libugrpc.a $(BUILD)/ugrpc.pc $(BUILD)/todo-api $(if $(wildcard tests/interop/server.c),$(BUILD)/interop-server)

deps:
	@bash third_party/deps.sh build
deps-test:
	@bash third_party/deps.sh test

$(BUILD)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(INCLUDES) -c $< -o $@

# protoc-c output lives in the build tree, never in git.
$(GEN)/todos.pb-c.c $(GEN)/todos.pb-c.h: proto/todos.proto | deps
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -Iproto -I$(PB_INCLUDE) $<

$(GEN)/grpc/%.pb-c.c $(GEN)/grpc/%.pb-c.h: $(GRPC_PROTO)/grpc/%.proto | deps
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -I$(GRPC_PROTO) -I$(PB_INCLUDE) $<

$(GEN)/google/protobuf/%.pb-c.c $(GEN)/google/protobuf/%.pb-c.h: $(PB_INCLUDE)/google/protobuf/%.proto | deps
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -I$(PB_INCLUDE) $<

# The descriptor set todo-api serves through reflection, embedded as bytes.
$(GEN)/todo_api.protoset: proto/todos.proto | deps
	@mkdir -p $(GEN)
	protoc --include_imports --descriptor_set_out=$@ -Iproto -I$(GRPC_PROTO) -I$(PB_INCLUDE) \
	  todos.proto grpc/health/v1/health.proto grpc/reflection/v1/reflection.proto \
	  grpc/reflection/v1alpha/reflection.proto

$(GEN)/%_protoset.c: $(GEN)/%.protoset
	@{ echo '/* Generated from $(notdir $<); do not edit. */'; \
	   echo '#include <stddef.h>'; \
	   echo 'extern const unsigned char $*_protoset[];'; \
	   echo 'extern const size_t $*_protoset_len;'; \
	   echo 'const unsigned char $*_protoset[] = {'; \
	   od -An -v -tx1 $< | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	   echo '};'; echo 'const size_t $*_protoset_len = sizeof($*_protoset);'; } > $@

$(GEN)/%.o: $(GEN)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Wmissing-prototypes,$(ALL_CFLAGS)) -I$(GEN) -c $< -o $@

$(APP_OBJS): $(GEN)/todos.pb-c.h $(GEN)/google/protobuf/field_mask.pb-c.h
$(LIB_SRCS:%.c=$(BUILD)/%.o): $(LIB_PROTO_H)

$(BUILD)/libugrpc.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/ugrpc.pc: Makefile
	@mkdir -p $(BUILD)
	@printf '%s\n' 'prefix=$(abspath $(BUILD))' 'Name: ugrpc' \
	  'Description: small embeddable gRPC server on libuv and nghttp2' \
	  'Version: 0.1.0' 'Requires.private: $(PKGS)' \
	  'Cflags: -I$(abspath src/grpc)' 'Libs: -L$${prefix} -lugrpc' 'Libs.private: -lpthread' > $@

$(BUILD)/todo-api: $(APP_OBJS) $(PROTO_OBJS) $(BUILD)/libugrpc.a
	$(CC) $(LDFLAGS) -o $@ $(APP_OBJS) $(PROTO_OBJS) $(BUILD)/libugrpc.a $(APP_LIBS) $(LIBS)

# The interop test server: grpc.testing.TestService on the library.
INTEROP_OBJS := $(INTEROP_PROTO_C:.c=.o)
$(BUILD)/tests/interop/server.o: $(INTEROP_PROTO_C:.c=.h)
$(BUILD)/interop-server: $(BUILD)/tests/interop/server.o $(INTEROP_OBJS) $(BUILD)/libugrpc.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The embedding example, built as an outside program would be: through
# ugrpc.pc and the public header only.
EMBED_GEN := $(BUILD)/embed
$(EMBED_GEN)/greeter.pb-c.c $(EMBED_GEN)/greeter.pb-c.h: tests/embed/greeter.proto | deps
	@mkdir -p $(EMBED_GEN)
	protoc-c --c_out=$(EMBED_GEN) -Itests/embed $<
$(EMBED_GEN)/greeter.pb-c.o: $(EMBED_GEN)/greeter.pb-c.c
	$(CC) $(filter-out -Wmissing-prototypes,$(ALL_CFLAGS)) -c $< -o $@
$(BUILD)/greeter: tests/embed/greeter.c $(EMBED_GEN)/greeter.pb-c.o $(BUILD)/libugrpc.a $(BUILD)/ugrpc.pc
	$(CC) $(ALL_CFLAGS) -I$(EMBED_GEN) $$(PKG_CONFIG_PATH=$(BUILD) pkg-config --cflags ugrpc) \
	  -o $@ $< $(EMBED_GEN)/greeter.pb-c.o $(LDFLAGS) \
	  $$(PKG_CONFIG_PATH=$(BUILD) pkg-config --libs --static ugrpc)

# Unit tests link the objects they test directly, internal headers included.
$(BUILD)/tests/test_%: tests/unit/test_%.c $(LIB_OBJS) $(filter-out $(BUILD)/src/app/main.o,$(APP_OBJS)) $(PROTO_OBJS) | deps
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(INCLUDES) -o $@ $< $(filter-out $(BUILD)/src/app/main.o,$(APP_OBJS)) \
	  $(PROTO_OBJS) $(LIB_OBJS) $(LDFLAGS) $(APP_LIBS) $(LIBS) -lcmocka

run: all
	$(BUILD)/todo-api

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do echo "== $$t"; $$t || fail=1; done; exit $$fail

$(BUILD)/py/todos_pb2.py: proto/todos.proto | deps-test
	@mkdir -p $(BUILD)/py
	$(PY) -m grpc_tools.protoc -Iproto -I$(PB_INCLUDE) --python_out=$(BUILD)/py --grpc_python_out=$(BUILD)/py $<

PYTEST_DIRS := tests/integration tests/embed $(wildcard tests/interop tests/store tests/adversarial)
# The benchmark harness checks run on the plain build only: sanitized
# servers would measure nothing useful.
ifeq ($(SANITIZER),)
PYTEST_DIRS += $(wildcard tests/bench)
endif

integration: all $(BUILD)/greeter $(BUILD)/py/todos_pb2.py | deps-test
	TODO_API_BIN=$(abspath $(BUILD)/todo-api) PY_GEN=$(abspath $(BUILD)/py) \
	  GREETER_BIN=$(abspath $(BUILD)/greeter) INTEROP_SERVER_BIN=$(abspath $(BUILD)/interop-server) \
	  TOOLS_BIN=$(abspath .tools/bin) SANITIZER=$(SANITIZER) BUILD_DIR=$(abspath $(BUILD)) \
	  $(PY) -m pytest -q $(PYTEST_DIRS) $(PYTEST_ARGS)

test: deps-test
	@$(MAKE) --no-print-directory unit
	@$(if $(wildcard tests/fuzz/fuzz.mk),$(MAKE) --no-print-directory fuzz-replay)
	@$(MAKE) --no-print-directory integration

C_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

lint: | deps
	clang-format --dry-run --Werror $(C_FILES)
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
	  --inline-suppr --suppress=missingIncludeSystem -Isrc/grpc -Isrc/todo -Isrc/app \
	  src tests/unit

format:
	clang-format -i $(C_FILES)

clean:
	rm -rf build build-*

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- fuzzing ----
# Owned by tests/fuzz/ (libFuzzer, clang; docs/security.md).
-include tests/fuzz/fuzz.mk

# ---- benchmarks ----
# Owned by bench/ (docs/benchmarks.md). Servers run pinned to core 0, load from core 1.
#   make bench         full run: writes bench/results/ (results.json, results.md, *.png)
#   make bench-quick   a short run of every scenario into $(BUILD)/bench/quick/
#   make bench-test    the quick pytest checks of tests/bench/ (Locust, ghz, harness)
BENCH_ARGS ?=
.PHONY: bench bench-quick bench-test
bench: all | deps-test
	BENCH_NO_MAKE=1 $(PY) bench/run.py --work $(BUILD)/bench $(BENCH_ARGS)
bench-quick: all | deps-test
	BENCH_NO_MAKE=1 $(PY) bench/run.py --quick --work $(BUILD)/bench --out $(BUILD)/bench/quick $(BENCH_ARGS)
bench-test: all $(BUILD)/py/todos_pb2.py | deps-test
	TODO_API_BIN=$(abspath $(BUILD)/todo-api) PY_GEN=$(abspath $(BUILD)/py) \
	  TOOLS_BIN=$(abspath .tools/bin) BUILD_DIR=$(abspath $(BUILD)) \
	  $(PY) -m pytest -q tests/bench $(PYTEST_ARGS)
# make soak [SOAK_SECONDS=600] [SOAK_ARGS="--store mongo"]: mixed load for minutes, RSS/fds/connections
# flat after warm-up; writes bench/results/soak.{md,json,png} (bench/soak.py; not in CI).
SOAK_SECONDS ?= 600
SOAK_ARGS ?=
.PHONY: soak
soak: all | deps-test
	$(PY) bench/soak.py --seconds $(SOAK_SECONDS) --bin $(abspath $(BUILD)/todo-api) --work $(BUILD)/soak $(SOAK_ARGS)

# ---- deploy (image, manifests) ----
# Owned by deploy/ (docs/deploy.md). ENV is taken from the command line only
# (an ENV in the shell's environment is often something else), default dev.
#   make image ENV=dev [TAG=t] [IMAGE_ENGINE=podman|docker]   build IMAGE_NAME:TAG of env/.env.$(ENV)
#   make manifests ENV=dev [TAG=t] [COLOR=blue]                render deploy/*.yaml into build/manifests/$(ENV)/
#   make deploy-test                                           tests/deploy: manifests, linters, image,
#                                                              podman kube play, the blue-green tool
DEPLOY_ENV := $(if $(filter command line,$(origin ENV)),$(ENV),dev)
DEPLOY_TAG = $(or $(TAG),$(shell git rev-parse --short=12 HEAD 2>/dev/null),dev)
DEPLOY_COLOR = $(or $(COLOR),blue)
IMAGE_ENGINE ?= $(if $(shell command -v podman 2>/dev/null),podman,docker)
.PHONY: image manifests deploy-test
image:
	@test -f env/.env.$(DEPLOY_ENV) || { echo "no env/.env.$(DEPLOY_ENV) (ENV=dev|staging|prod)" >&2; exit 2; }
	$(if $(filter podman,$(IMAGE_ENGINE)),bash deploy/podman-base.sh &&) \
	CONTAINERS_CONF=$${CONTAINERS_CONF:-$(abspath deploy/containers.conf)} \
	  deploy/bluegreen -e env/.env.$(DEPLOY_ENV) --container-engine $(IMAGE_ENGINE) --tag $(DEPLOY_TAG) build
manifests:
	@test -f env/.env.$(DEPLOY_ENV) || { echo "no env/.env.$(DEPLOY_ENV) (ENV=dev|staging|prod)" >&2; exit 2; }
	@rm -rf build/manifests/$(DEPLOY_ENV)
	deploy/bluegreen -e env/.env.$(DEPLOY_ENV) --tag $(DEPLOY_TAG) --color $(DEPLOY_COLOR) \
	  render --out build/manifests/$(DEPLOY_ENV)
deploy-test: $(BUILD)/todo-api $(BUILD)/py/todos_pb2.py | deps-test
	DEPLOY_TOOLS_BIN=$$(bash tests/deploy/install-tools.sh) && \
	TODO_API_BIN=$(abspath $(BUILD)/todo-api) PY_GEN=$(abspath $(BUILD)/py) \
	  TOOLS_BIN=$(abspath .tools/bin) DEPLOY_TOOLS_BIN=$$DEPLOY_TOOLS_BIN \
	  $(PY) -m pytest -q tests/deploy $(PYTEST_ARGS)
