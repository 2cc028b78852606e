build-fp/obj/cli/serve.o: src/cli/serve.c src/api/api.h src/http/http.h \
 src/base/buf.h src/base/err.h src/query/limits.h src/store/store.h \
 src/base/log.h src/cli/cli.h src/store/catalog.h src/base/ids.h \
 src/store/janitor.h src/query/vexec.h src/base/workq.h src/query/agg.h \
 src/base/arena.h src/store/colcache.h
src/api/api.h:
src/http/http.h:
src/base/buf.h:
src/base/err.h:
src/query/limits.h:
src/store/store.h:
src/base/log.h:
src/cli/cli.h:
src/store/catalog.h:
src/base/ids.h:
src/store/janitor.h:
src/query/vexec.h:
src/base/workq.h:
src/query/agg.h:
src/base/arena.h:
src/store/colcache.h:
