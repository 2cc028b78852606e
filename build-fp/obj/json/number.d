build-fp/obj/json/number.o: src/json/number.c src/json/number.h \
 src/base/buf.h src/base/err.h src/base/log.h src/json/json.h
src/json/number.h:
src/base/buf.h:
src/base/err.h:
src/base/log.h:
src/json/json.h:
