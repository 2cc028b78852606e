build-fp/obj/store/colcache.o: src/store/colcache.c src/store/colcache.h \
 src/base/err.h src/store/store.h src/base/log.h src/store/catalog.h \
 src/base/ids.h src/store/ccdict.h src/store/objects.h
src/store/colcache.h:
src/base/err.h:
src/store/store.h:
src/base/log.h:
src/store/catalog.h:
src/base/ids.h:
src/store/ccdict.h:
src/store/objects.h:
