build-fp/obj/query/filter.o: src/query/filter.c src/query/filter.h \
 src/base/arena.h src/base/err.h src/json/json.h src/base/buf.h \
 src/query/filter_internal.h src/base/clock.h src/query/value.h
src/query/filter.h:
src/base/arena.h:
src/base/err.h:
src/json/json.h:
src/base/buf.h:
src/query/filter_internal.h:
src/base/clock.h:
src/query/value.h:
