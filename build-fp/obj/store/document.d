build-fp/obj/store/document.o: src/store/document.c src/store/document.h \
 src/store/catalog.h src/base/ids.h src/store/store.h src/base/err.h \
 src/base/clock.h src/base/utf8.h src/store/blobs.h
src/store/document.h:
src/store/catalog.h:
src/base/ids.h:
src/store/store.h:
src/base/err.h:
src/base/clock.h:
src/base/utf8.h:
src/store/blobs.h:
