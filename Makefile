# Tally build. `make` builds build/tally; see README.md for the rest.
#
#   make            release build (warnings are errors)
#   make run        install missing Debian packages, build, serve ./data
#   make test       install missing packages, build, run every test suite
#   make asan       the same sources under AddressSanitizer + UBSan
#   make bench      the benchmark against the peers (long; not a test)
#   make load       the 10-minute load test and the abuse tests at full size
#   make json-bench JSON reader and writer throughput on BENCH_FILE
#   make fuzz       run every fuzz target (FUZZ_SECONDS each)

BUILD    ?= build
SAN      ?= 0
CC       ?= cc
PKGS     := libbson-1.0 libmicrohttpd lmdb libsodium libpcre2-8 libcurl

PKG_CFLAGS := $(patsubst -I%,-isystem %,$(shell pkg-config --cflags $(PKGS) 2>/dev/null))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wvla -Wformat=2 -Wno-format-nonliteral
CFLAGS   ?= -O2 -g
ifeq ($(SAN),1)
CFLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
            -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif
ALL_CFLAGS := -std=c17 -D_GNU_SOURCE -pthread $(WARN) $(CFLAGS) \
              -Isrc $(PKG_CFLAGS) -MMD -MP
LIBS     := $(PKG_LIBS) -lm -pthread

SRC      := $(sort $(wildcard src/*/*.c))
OBJ      := $(SRC:src/%.c=$(BUILD)/obj/%.o)
MAIN_OBJ := $(BUILD)/obj/main.o
OPENAPI_OBJ := $(BUILD)/obj/openapi.o
UNIT_SRC := $(sort $(wildcard tests/unit/*.c))
UNIT_OBJ := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/obj/tests/%.o)

# libFuzzer targets (tests/fuzz/fuzz_<name>.c), built by clang into
# build-fuzz/: the project under ASan + UBSan with fuzzer coverage, each
# target linked with libFuzzer's main.
FUZZ_TARGETS := json filter agg ndjson router http
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer \
                -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_OBJ := $(FUZZ_TARGETS:%=$(BUILD)/obj/fuzz/fuzz_%.o)
FUZZ_BIN := $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%)
.SECONDARY: $(FUZZ_OBJ) $(BUILD)/obj/fuzz/fuzz_common.o

.PHONY: all run test unit asan bench load json-bench fuzz fuzz-build crash \
        clean deps format

all: $(BUILD)/tally

$(BUILD)/libtally.a: $(OBJ) $(OPENAPI_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/tally: $(MAIN_OBJ) $(BUILD)/libtally.a
	@echo "  LD $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/unit_tests: $(UNIT_OBJ) $(BUILD)/libtally.a
	@echo "  LD $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/json_bench: bench/json_bench.c $(BUILD)/libtally.a
	@echo "  LD $@"
	@$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/fuzz_%: $(BUILD)/obj/fuzz/fuzz_%.o $(BUILD)/obj/fuzz/fuzz_common.o \
                 $(BUILD)/libtally.a
	@echo "  LD $@"
	@$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS)

# The server's own OpenAPI document, linked in as data.
$(OPENAPI_OBJ): docs/openapi.json
	@mkdir -p $(dir $@)
	@echo "  LD $<"
	@ld -r -b binary -z noexecstack -o $@ $<

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/tests/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(ALL_CFLAGS) -Itests/unit -c -o $@ $<

$(BUILD)/obj/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(ALL_CFLAGS) -Itests/fuzz -c -o $@ $<

deps:
	@scripts/deps.sh run

run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/tally serve

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

test:
	@scripts/deps.sh test
	@scripts/test.sh

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 all build-asan/unit_tests

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=$(FUZZ_CC) \
	    CFLAGS="$(FUZZ_CFLAGS)" $(FUZZ_TARGETS:%=build-fuzz/fuzz_%)

# Each target FUZZ_SECONDS on a copy of its corpus, in a scratch folder.
fuzz:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all >&2
	@bench/run.sh

# tests/load/run.sh: 64 connections for 10 minutes over 1M objects; then
# the abuse tests with 10k idle connections (2000 in `make test`).
load:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory all
	@tests/load/run.sh
	@TALLY_ABUSE_IDLE=10000 /usr/bin/python3 -m pytest -q -p no:cacheprovider \
	    tests/api/test_abuse.py

# Kill -9 during writes, fifty times (the test command runs five).
crash: all
	@/usr/bin/python3 tests/crash/crash.py --rounds $(or $(ROUNDS),50)

# The generator is deterministic: the same seed gives the same file.
BENCH_FILE ?= /tmp/bench-data/objects_200000.ndjson

json-bench: $(BUILD)/json_bench
	@test -f $(BENCH_FILE) || { mkdir -p $(dir $(BENCH_FILE)) && \
	    /usr/bin/python3 ../shared/bench/gen.py -n 200000 --seed 42 \
	        -o $(BENCH_FILE) --jobs 2; }
	$(BUILD)/json_bench $(BENCH_FILE)

clean:
	rm -rf build build-asan build-fuzz

format:
	clang-format -i src/*.c src/*/*.[ch] tests/unit/*.[ch] tests/fuzz/*.[ch]

-include $(OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d)
