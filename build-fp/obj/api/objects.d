build-fp/obj/api/objects.o: src/api/objects.c src/api/internal.h \
 src/api/api.h src/http/http.h src/base/buf.h src/base/err.h \
 src/query/limits.h src/store/store.h src/json/json.h src/store/catalog.h \
 src/base/ids.h src/store/document.h src/store/ingest.h \
 src/store/objects.h
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
src/store/document.h:
src/store/ingest.h:
src/store/objects.h:
