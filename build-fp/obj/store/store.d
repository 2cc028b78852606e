build-fp/obj/store/store.o: src/store/store.c src/store/store.h \
 src/base/err.h src/base/log.h src/store/changes.h
src/store/store.h:
src/base/err.h:
src/base/log.h:
src/store/changes.h:
