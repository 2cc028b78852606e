build-fp/obj/query/pipeline.o: src/query/pipeline.c \
 src/query/agg_internal.h src/base/clock.h src/query/agg.h \
 src/base/arena.h src/base/buf.h src/base/err.h src/query/limits.h \
 src/store/store.h src/query/filter.h src/json/json.h src/query/sum.h \
 src/query/value.h src/store/colcache.h
src/query/agg_internal.h:
src/base/clock.h:
src/query/agg.h:
src/base/arena.h:
src/base/buf.h:
src/base/err.h:
src/query/limits.h:
src/store/store.h:
src/query/filter.h:
src/json/json.h:
src/query/sum.h:
src/query/value.h:
src/store/colcache.h:
