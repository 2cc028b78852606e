build-fp/obj/cli/import.o: src/cli/import.c src/api/api.h src/http/http.h \
 src/base/buf.h src/base/err.h src/query/limits.h src/store/store.h \
 src/base/clock.h src/cli/cli.h src/store/importer.h
src/api/api.h:
src/http/http.h:
src/base/buf.h:
src/base/err.h:
src/query/limits.h:
src/store/store.h:
src/base/clock.h:
src/cli/cli.h:
src/store/importer.h:
