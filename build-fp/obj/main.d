build-fp/obj/main.o: src/main.c src/cli/cli.h src/base/err.h \
 src/store/store.h
src/cli/cli.h:
src/base/err.h:
src/store/store.h:
