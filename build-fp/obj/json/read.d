build-fp/obj/json/read.o: src/json/read.c src/json/json.h src/base/buf.h \
 src/base/err.h src/base/utf8.h src/json/number.h src/json/scan.h
src/json/json.h:
src/base/buf.h:
src/base/err.h:
src/base/utf8.h:
src/json/number.h:
src/json/scan.h:
