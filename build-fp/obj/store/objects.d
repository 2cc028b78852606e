build-fp/obj/store/objects.o: src/store/objects.c src/store/objects.h \
 src/store/catalog.h src/base/ids.h src/store/store.h src/base/err.h \
 src/base/crc32c.h
src/store/objects.h:
src/store/catalog.h:
src/base/ids.h:
src/store/store.h:
src/base/err.h:
src/base/crc32c.h:
