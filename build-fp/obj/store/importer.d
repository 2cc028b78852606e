build-fp/obj/store/importer.o: src/store/importer.c src/store/importer.h \
 src/store/store.h src/base/err.h src/base/clock.h src/json/json.h \
 src/base/buf.h src/store/catalog.h src/base/ids.h src/store/document.h \
 src/store/ingest.h src/store/objects.h
src/store/importer.h:
src/store/store.h:
src/base/err.h:
src/base/clock.h:
src/json/json.h:
src/base/buf.h:
src/store/catalog.h:
src/base/ids.h:
src/store/document.h:
src/store/ingest.h:
src/store/objects.h:
