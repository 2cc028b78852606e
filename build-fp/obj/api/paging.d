build-fp/obj/api/paging.o: src/api/paging.c src/api/paging.h \
 src/api/internal.h src/api/api.h src/http/http.h src/base/buf.h \
 src/base/err.h src/query/limits.h src/store/store.h src/json/json.h \
 src/store/catalog.h src/base/ids.h src/query/value.h src/base/arena.h
src/api/paging.h:
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
src/query/value.h:
src/base/arena.h:
