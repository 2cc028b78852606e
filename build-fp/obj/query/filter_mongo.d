build-fp/obj/query/filter_mongo.o: src/query/filter_mongo.c \
 src/base/clock.h src/query/filter.h src/base/arena.h src/base/err.h \
 src/json/json.h src/base/buf.h src/query/filter_internal.h \
 src/query/value.h
src/base/clock.h:
src/query/filter.h:
src/base/arena.h:
src/base/err.h:
src/json/json.h:
src/base/buf.h:
src/query/filter_internal.h:
src/query/value.h:
