build-fp/obj/api/routes.o: src/api/routes.c src/api/internal.h \
 src/api/api.h src/http/http.h src/base/buf.h src/base/err.h \
 src/query/limits.h src/store/store.h src/json/json.h src/store/catalog.h \
 src/base/ids.h
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
