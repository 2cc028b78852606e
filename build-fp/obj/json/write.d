build-fp/obj/json/write.o: src/json/write.c src/json/json.h \
 src/base/buf.h src/base/clock.h src/base/log.h src/base/utf8.h \
 src/json/number.h src/json/scan.h
src/json/json.h:
src/base/buf.h:
src/base/clock.h:
src/base/log.h:
src/base/utf8.h:
src/json/number.h:
src/json/scan.h:
