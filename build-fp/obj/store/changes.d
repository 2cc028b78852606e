build-fp/obj/store/changes.o: src/store/changes.c src/store/changes.h \
 src/store/store.h src/base/err.h
src/store/changes.h:
src/store/store.h:
src/base/err.h:
