build-fp/obj/store/catalog.o: src/store/catalog.c src/store/catalog.h \
 src/base/ids.h src/store/store.h src/base/err.h src/base/log.h \
 src/base/utf8.h
src/store/catalog.h:
src/base/ids.h:
src/store/store.h:
src/base/err.h:
src/base/log.h:
src/base/utf8.h:
