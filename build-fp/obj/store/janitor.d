build-fp/obj/store/janitor.o: src/store/janitor.c src/store/janitor.h \
 src/store/store.h src/base/err.h src/base/log.h src/store/catalog.h \
 src/base/ids.h
src/store/janitor.h:
src/store/store.h:
src/base/err.h:
src/base/log.h:
src/store/catalog.h:
src/base/ids.h:
