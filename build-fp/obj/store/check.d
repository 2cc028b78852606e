build-fp/obj/store/check.o: src/store/check.c src/store/check.h \
 src/store/store.h src/base/err.h src/store/catalog.h src/base/ids.h \
 src/store/objects.h
src/store/check.h:
src/store/store.h:
src/base/err.h:
src/store/catalog.h:
src/base/ids.h:
src/store/objects.h:
