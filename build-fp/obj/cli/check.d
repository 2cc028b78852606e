build-fp/obj/cli/check.o: src/cli/check.c src/cli/cli.h src/base/err.h \
 src/store/store.h src/store/check.h
src/cli/cli.h:
src/base/err.h:
src/store/store.h:
src/store/check.h:
