build-fp/obj/cli/common.o: src/cli/common.c src/base/clock.h \
 src/base/ids.h src/cli/cli.h src/base/err.h src/store/store.h \
 src/store/catalog.h
src/base/clock.h:
src/base/ids.h:
src/cli/cli.h:
src/base/err.h:
src/store/store.h:
src/store/catalog.h:
