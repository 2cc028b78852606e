build-fp/obj/cli/key.o: src/cli/key.c src/base/clock.h src/cli/cli.h \
 src/base/err.h src/store/store.h src/json/json.h src/base/buf.h \
 src/store/catalog.h src/base/ids.h
src/base/clock.h:
src/cli/cli.h:
src/base/err.h:
src/store/store.h:
src/json/json.h:
src/base/buf.h:
src/store/catalog.h:
src/base/ids.h:
