build-fp/obj/api/aggregate.o: src/api/aggregate.c src/api/internal.h \
 src/api/api.h src/http/http.h src/base/buf.h src/base/err.h \
 src/query/limits.h src/store/store.h src/json/json.h src/store/catalog.h \
 src/base/ids.h src/base/clock.h src/base/log.h src/query/agg.h \
 src/base/arena.h src/query/vexec.h src/base/workq.h src/store/colcache.h
src/api/internal.h:
src/api/api.h:
src/http/http.h:
src/base/buf.h:
src/base/err.h:
src/query/limits.h:
src/store/store.h:
src/json/json.h:
src/store/catalog.h:
src/base/ids.h:
src/base/clock.h:
src/base/log.h:
src/query/agg.h:
src/base/arena.h:
src/query/vexec.h:
src/base/workq.h:
src/store/colcache.h:
