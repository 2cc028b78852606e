build-fp/obj/store/ingest.o: src/store/ingest.c src/store/ingest.h \
 src/store/catalog.h src/base/ids.h src/store/store.h src/base/err.h \
 src/store/objects.h src/store/document.h
src/store/ingest.h:
src/store/catalog.h:
src/base/ids.h:
src/store/store.h:
src/base/err.h:
src/store/objects.h:
src/store/document.h:
