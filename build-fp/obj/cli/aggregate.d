build-fp/obj/cli/aggregate.o: src/cli/aggregate.c src/base/clock.h \
 src/cli/cli.h src/base/err.h src/store/store.h src/json/json.h \
 src/base/buf.h src/query/agg.h src/base/arena.h src/query/limits.h \
 src/store/catalog.h src/base/ids.h
src/base/clock.h:
src/cli/cli.h:
src/base/err.h:
src/store/store.h:
src/json/json.h:
src/base/buf.h:
src/query/agg.h:
src/base/arena.h:
src/query/limits.h:
src/store/catalog.h:
src/base/ids.h:
