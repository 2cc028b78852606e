build-fp/obj/query/value.o: src/query/value.c src/query/value.h \
 src/base/arena.h src/base/buf.h src/json/json.h src/base/err.h
src/query/value.h:
src/base/arena.h:
src/base/buf.h:
src/json/json.h:
src/base/err.h:
