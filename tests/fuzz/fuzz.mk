# libFuzzer targets (included by the top-level Makefile; see tests/fuzz/README.md).
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="frame conn"]   fuzz each target in turn
#   make fuzz-replay                                          run every committed corpus file once
#   make fuzz-build                                           only build the fuzz binaries
#
# Fuzz binaries are always built with clang, -fsanitize=fuzzer,address,undefined,
# into their own tree $(FUZZ_BUILD), whatever SANITIZER says. Generated protobuf
# sources come from the current build's $(GEN) through the Makefile's rules.
# New inputs found while fuzzing go to $(FUZZ_BUILD)/corpus/<target>, never into
# git; crashes to $(FUZZ_BUILD)/artifacts/.

FUZZ_BUILD := build-fuzz
FUZZ_CC := clang
FUZZ_SECONDS ?= 60
FUZZ_NICE ?= nice -n 19
FUZZ_ALL := frame metadata conn proto dotenv admin
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# The project's flags without its own sanitizer choice.
FUZZ_CFLAGS := $(filter-out -fsanitize=% -fno-sanitize-recover=%,$(ALL_CFLAGS)) $(FUZZ_SAN)
FUZZ_OBJ_CFLAGS := $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link

FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FUZZ_BUILD)/%.o) $(LIB_PROTO_C:$(GEN)/%.c=$(FUZZ_BUILD)/gen/%.o)
FUZZ_APP_OBJS := $(filter-out $(FUZZ_BUILD)/src/app/main.o,$(APP_SRCS:%.c=$(FUZZ_BUILD)/%.o)) \
                 $(PROTO_C:$(GEN)/%.c=$(FUZZ_BUILD)/gen/%.o)
FUZZ_BINS := $(FUZZ_ALL:%=$(FUZZ_BUILD)/fuzz_%)

.PHONY: fuzz fuzz-build fuzz-replay $(FUZZ_ALL:%=fuzz-%)

$(FUZZ_BUILD)/src/%.o: src/%.c | deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_OBJ_CFLAGS) $(INCLUDES) -c $< -o $@

$(FUZZ_BUILD)/gen/%.o: $(GEN)/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out -Wmissing-prototypes,$(FUZZ_OBJ_CFLAGS)) -I$(GEN) -c $< -o $@

$(FUZZ_APP_OBJS): $(GEN)/todos.pb-c.h $(GEN)/google/protobuf/field_mask.pb-c.h
$(LIB_SRCS:%.c=$(FUZZ_BUILD)/%.o): $(LIB_PROTO_H)

# Archives, so each target links only the objects it needs.
$(FUZZ_BUILD)/libugrpc.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^
$(FUZZ_BUILD)/libapp.a: $(FUZZ_APP_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libapp.a $(FUZZ_BUILD)/libugrpc.a | deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(INCLUDES) -Itests/fuzz -o $@ $< \
	  $(FUZZ_BUILD)/libapp.a $(FUZZ_BUILD)/libugrpc.a $(APP_LIBS) $(LIBS)

fuzz-build: $(FUZZ_BINS)

# Every committed input once; any crash, leak or sanitizer report fails.
fuzz-replay: $(FUZZ_BINS)
	@fail=0; for t in $(FUZZ_ALL); do \
	  files=$$(find tests/fuzz/corpus/$$t -type f 2>/dev/null | sort); \
	  [ -n "$$files" ] || { echo "fuzz-replay: no corpus for $$t" >&2; fail=1; continue; }; \
	  printf '== fuzz_%s: %s inputs\n' $$t $$(echo "$$files" | wc -l); \
	  $(FUZZ_BUILD)/fuzz_$$t $$files > $(FUZZ_BUILD)/replay-$$t.log 2>&1 || \
	    { cat $(FUZZ_BUILD)/replay-$$t.log; fail=1; }; \
	done; exit $$fail

# One target for FUZZ_SECONDS; its last stats line is kept in $(FUZZ_BUILD)/logs/.
$(FUZZ_ALL:%=fuzz-%): fuzz-%: $(FUZZ_BUILD)/fuzz_%
	@mkdir -p $(FUZZ_BUILD)/corpus/$* $(FUZZ_BUILD)/artifacts $(FUZZ_BUILD)/logs
	@echo "fuzz_$*: $(FUZZ_SECONDS) s, log in $(FUZZ_BUILD)/logs/$*.log"
	@$(FUZZ_NICE) $(FUZZ_BUILD)/fuzz_$* -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_BUILD)/artifacts/$*- \
	  $(if $(wildcard tests/fuzz/fuzz_$*.dict),-dict=tests/fuzz/fuzz_$*.dict) \
	  $(FUZZ_BUILD)/corpus/$* tests/fuzz/corpus/$* > $(FUZZ_BUILD)/logs/$*.log 2>&1; rv=$$?; \
	  grep -E 'INITED|Done [0-9]+ runs|stat::number_of_executed_units|ERROR|SUMMARY' \
	    $(FUZZ_BUILD)/logs/$*.log; exit $$rv

fuzz:
	@for t in $(FUZZ_TARGETS); do $(MAKE) --no-print-directory fuzz-$$t || exit 1; done

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
