build-fp/obj/store/ccdict.o: src/store/ccdict.c src/store/ccdict.h \
 src/store/colcache.h src/base/err.h src/store/store.h
src/store/ccdict.h:
src/store/colcache.h:
src/base/err.h:
src/store/store.h:
